package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/internal/testenv"
)

// mailRig is a relay and a service sending mail through it, with the relay's key managed by rekey.
func mailRig(t *testing.T) *rig {
	testenv.RequireImages(t, testenv.AppImage, "rekey-demo/smtp:dev")
	st := testenv.NewStack(t, filepath.Join("testdata", "mail"))
	port := testenv.FreePort(t)
	st.SetEnv(t, "SMTP_PORT", fmt.Sprint(port))
	ca := testenv.WriteTLS(t, filepath.Join(st.Dir, "tls"), t.TempDir())
	st.Up(t)
	config := fmt.Sprintf(`version: 1
compose: {project_dir: %s, project_name: %s}
values: secrets.sops.yaml
health_timeout: 30s
secrets:
  smtp-password:
    type: token
    env: {value: SMTP_PASSWORD}
    server: mail
servers:
  mail: {type: smtp, addr: "127.0.0.1:%d", user: app, ca_file: %s}
`, st.Dir, st.Name, port, ca)
	r := newRigFor(t, st, config, map[string]string{"smtp-password": st.DotEnv(t)["SMTP_PASSWORD"]})
	if res := r.mustApply(); !strings.Contains(res.stdout, "in-sync") {
		t.Fatalf("first apply:\n%s", res.stdout)
	}
	return r
}

// setKeys replaces the relay's keys, as an operator does in the provider's dashboard (write and rename:
// the relay re-reads the file at every AUTH).
func setKeys(t *testing.T, r *rig, keys ...string) {
	t.Helper()
	dir := filepath.Join(r.stack.Dir, "keys")
	var b strings.Builder
	for _, k := range keys {
		b.WriteString("app:" + k + "\n")
	}
	tmp := filepath.Join(dir, ".keys.tmp")
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "keys")); err != nil {
		t.Fatal(err)
	}
}

// TestSMTPPendingRevocation rotates a relay key rekey can neither create nor revoke: a new key not yet
// created at the provider is refused before any consumer moves; once created, the consumer moves to it,
// the rotation completes, and the old key stays a pending revocation — reported at every run, with its
// value kept encrypted — until it stops logging in.
func TestSMTPPendingRevocation(t *testing.T) {
	r := mailRig(t)
	old := r.values["smtp-password"]
	before := r.stack.ContainerID(t, "mailer")

	const next = "second-smtp-key-4d8e07"
	r.values["smtp-password"] = next
	r.commitValues("rotate the relay key")
	res := r.rekey("apply")
	if res.code != 3 || !strings.Contains(res.stdout, "create the new credential at the provider first") {
		t.Fatalf("apply before the key exists exited %d, want 3 with what to do:\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if r.stack.DotEnv(t)["SMTP_PASSWORD"] != old || r.stack.ContainerID(t, "mailer") != before {
		t.Fatal("the consumer moved to a key the relay rejects")
	}

	setKeys(t, r, old, next) // the operator creates the new key at the provider
	res = r.mustApply()
	if !strings.Contains(res.stdout, "rotated") || !strings.Contains(res.stdout, "pending revocation") {
		t.Fatalf("apply after the key exists:\n%s\n%s", res.stdout, res.stderr)
	}
	if r.stack.DotEnv(t)["SMTP_PASSWORD"] != next || r.stack.ContainerID(t, "mailer") == before {
		t.Error("the consumer was not moved to the new key")
	}
	res = r.mustApply()
	if !strings.Contains(res.stdout, "pending-revocation") {
		t.Errorf("apply while the old key still works should report it pending:\n%s", res.stdout)
	}
	if st := fmt.Sprint(r.status()); !strings.Contains(st, "to revoke at the provider") {
		t.Errorf("status does not show the pending revocation: %s", st)
	}

	setKeys(t, r, next) // the operator revokes the old key
	res = r.mustApply()
	if !strings.Contains(res.stdout, "revocation-seen") {
		t.Fatalf("apply after the revocation:\n%s", res.stdout)
	}
	if res = r.mustApply(); !strings.Contains(res.stdout, "in-sync") {
		t.Errorf("apply after that:\n%s", res.stdout)
	}
	hist := r.rekey("history", "smtp-password")
	for _, want := range []string{"pending revocation: the old value must be revoked at the provider", "revocation seen: the old value no longer logs in"} {
		if !strings.Contains(hist.stdout, want) {
			t.Errorf("history lacks %q:\n%s", want, hist.stdout)
		}
	}
	if logs := r.stack.Logs(t, "relay"); strings.Contains(logs, old) || strings.Contains(logs, next) {
		t.Error("a key reached the relay's log")
	}
}
