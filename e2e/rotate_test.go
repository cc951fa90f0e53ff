package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/internal/testenv"
)

const newSession = "rotated-session-secret-0123456789abcdef"

// TestRotateAppKey commits a new app key and checks, through the running containers, that only its
// consumers rolled, in dependency order, with the old key kept as previous for the window and then dropped.
func TestRotateAppKey(t *testing.T) {
	r := newRig(t, "15s")
	if res := r.mustApply(); !strings.Contains(res.stdout, "in-sync") {
		t.Fatalf("first apply should find everything in sync:\n%s", res.stdout)
	}
	oldSession := r.values["session-key"]
	before := r.ids()

	r.values["session-key"] = newSession
	r.commitValues("rotate the session key")
	plan := r.rekey("plan")
	if plan.code != 0 {
		t.Fatalf("plan exited %d: %s", plan.code, plan.stderr)
	}
	appAt, workerAt := strings.Index(plan.stdout, "app [recreate"), strings.Index(plan.stdout, "worker [recreate")
	if appAt < 0 || workerAt < appAt || strings.Contains(plan.stdout, "redis [") {
		t.Fatalf("plan should roll app then worker and not redis:\n%s", plan.stdout)
	}

	res := r.mustApply()
	if !strings.Contains(res.stdout, "verified") {
		t.Fatalf("apply should verify and keep previous for its window:\n%s", res.stdout)
	}
	if i, j := strings.Index(res.stderr, "recreate app"), strings.Index(res.stderr, "recreate worker"); i < 0 || j < i {
		t.Errorf("consumers not rolled app then worker:\n%s", res.stderr)
	}
	after := r.ids()
	if after["redis"] != before["redis"] {
		t.Error("redis was recreated but does not consume the session key")
	}
	if after["app"] == before["app"] || after["worker"] == before["worker"] {
		t.Error("app and worker must be recreated")
	}
	app, worker := r.fingerprints()
	if app["session_key"] != testenv.Fingerprint(newSession) || worker["session_key"] != testenv.Fingerprint(newSession) {
		t.Fatalf("containers report app=%v worker=%v, want the new key", app, worker)
	}
	if app["session_key_previous"] != testenv.Fingerprint(oldSession) {
		t.Fatalf("app previous = %q, want the old key during the window", app["session_key_previous"])
	}

	time.Sleep(15 * time.Second)
	res = r.mustApply()
	if !strings.Contains(res.stdout, "finalized") {
		t.Fatalf("apply after the window should finalize:\n%s", res.stdout)
	}
	app, worker = r.fingerprints()
	if app["session_key_previous"] != "" || app["session_key"] != testenv.Fingerprint(newSession) ||
		worker["session_key"] != testenv.Fingerprint(newSession) {
		t.Fatalf("after finalize app=%v worker=%v", app, worker)
	}
	if env := r.stack.DotEnv(t); env["SESSION_SECRET"] != newSession || env["SESSION_SECRET_PREVIOUS"] != "" {
		t.Errorf(".env after finalize: current ok=%v, previous=%q", env["SESSION_SECRET"] == newSession, env["SESSION_SECRET_PREVIOUS"])
	}
	if cfg := r.stack.Compose(t, "config"); !strings.Contains(cfg, newSession) {
		t.Error("docker compose config does not show the new value")
	}
	assertUpRecreatesNothing(t, r)

	// The audit trail tells the story: the commit, the rolls with the containers they left running.
	hist := r.rekey("history", "session-key")
	workerID := r.stack.ContainerID(t, "worker")[:12]
	for _, want := range []string{"rotate the session key", "secrets changed", "recreate app (rotation)", "→ container " + workerID, "finalized"} {
		if !strings.Contains(hist.stdout, want) {
			t.Errorf("history lacks %q:\n%s", want, hist.stdout)
		}
	}
}

// assertUpRecreatesNothing checks that Compose agrees with what rekey did: its own `up -d` finds
// nothing to recreate.
func assertUpRecreatesNothing(t *testing.T, r *rig) {
	t.Helper()
	before := r.ids()
	r.stack.Compose(t, "up", "-d", "--wait")
	if after := r.ids(); after["app"] != before["app"] || after["worker"] != before["worker"] || after["redis"] != before["redis"] {
		t.Errorf("docker compose up -d recreated containers after the rotation: %v → %v", before, after)
	}
}

// TestRotateSecretFile rotates a compose `secrets:` file: it is rewritten in place and its consumer is
// restarted (compose would not notice), while the worker is left alone.
func TestRotateSecretFile(t *testing.T) {
	r := newRig(t, "0s")
	before := r.ids()
	workerStarted := r.startedAt("worker")
	appStarted := r.startedAt("app")
	r.values["webhook-token"] = "rotated-webhook-token-42"
	r.commitValues("rotate the webhook token")
	res := r.mustApply()
	if !strings.Contains(res.stdout, "webhook-token") || !strings.Contains(res.stdout, "rotated") {
		t.Fatalf("apply output:\n%s", res.stdout)
	}
	app, _ := r.fingerprints()
	if app["webhook_token"] != testenv.Fingerprint("rotated-webhook-token-42") {
		t.Fatalf("app reports webhook token %q", app["webhook_token"])
	}
	after := r.ids()
	if after["app"] != before["app"] {
		t.Error("app was recreated; a file consumer should be restarted in place")
	}
	if r.startedAt("app") == appStarted {
		t.Error("app was not restarted")
	}
	if r.startedAt("worker") != workerStarted || after["worker"] != before["worker"] {
		t.Error("worker was touched but does not consume the webhook token")
	}
	if got := r.stack.ReadFile(t, "secrets/webhook_token.txt"); got != "rotated-webhook-token-42" {
		t.Errorf("secret file holds %d bytes, want the new value", len(got))
	}
	assertUpRecreatesNothing(t, r)
}

// TestFailedVerificationRollsBack commits a key the app refuses: the health gate fails, and rekey puts
// the old value back in .env and in every container it had rolled.
func TestFailedVerificationRollsBack(t *testing.T) {
	r := newRig(t, "0s")
	oldSession := r.values["session-key"]
	envBefore := r.stack.ReadFile(t, ".env")
	r.values["session-key"] = "too-short" // the demo app exits: SESSION_SECRET is too short
	r.commitValues("a bad key")
	res := r.rekey("apply")
	if res.code != 3 {
		t.Fatalf("exit code %d, want 3 (rolled back)\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	if !strings.Contains(res.stdout, "rolled-back") || !strings.Contains(res.stdout, "app") {
		t.Errorf("output does not say what rolled back and why:\n%s", res.stdout)
	}
	if got := r.stack.ReadFile(t, ".env"); got != envBefore {
		t.Errorf(".env not restored byte for byte:\n%s", got)
	}
	app, worker := r.fingerprints()
	if app["session_key"] != testenv.Fingerprint(oldSession) || worker["session_key"] != testenv.Fingerprint(oldSession) {
		t.Errorf("containers after rollback: app=%v worker=%v", app, worker)
	}
	st := r.status()
	for _, s := range st["secrets"].([]any) {
		m := s.(map[string]any)
		if m["open_txn"] != nil {
			t.Errorf("transaction left open for %v", m["secret"])
		}
		if m["secret"] == "session-key" && m["last_outcome"] != "rolled-back" {
			t.Errorf("status last outcome = %v", m["last_outcome"])
		}
	}
}

// TestOneFailingSecretDoesNotBlockOthers commits two changes at once: a key the app refuses and a good
// webhook token. They are independent transactions: the token rotates, the key rolls back.
func TestOneFailingSecretDoesNotBlockOthers(t *testing.T) {
	r := newRig(t, "0s")
	oldSession := r.values["session-key"]
	r.values["session-key"] = "bad-key-7q" // under 16 bytes: the app refuses it
	r.values["webhook-token"] = "a-good-new-webhook-token"
	r.commitValues("two rotations, one bad")
	res := r.rekey("apply")
	if res.code != 3 {
		t.Fatalf("exit %d, want 3\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	app, worker := r.fingerprints()
	if app["webhook_token"] != testenv.Fingerprint("a-good-new-webhook-token") {
		t.Errorf("webhook token not rotated: %v", app)
	}
	if app["session_key"] != testenv.Fingerprint(oldSession) || worker["session_key"] != testenv.Fingerprint(oldSession) {
		t.Errorf("session key not rolled back: app=%v worker=%v", app, worker)
	}
}

// TestStateDirHoldsNoValues scans every file rekey keeps after rotations and a rollback for the plaintext
// of any value, old or new.
func TestStateDirHoldsNoValues(t *testing.T) {
	r := newRig(t, "0s")
	seen := []string{r.values["session-key"], r.values["webhook-token"]}
	r.values["session-key"] = "state-dir-scan-session-secret-0123456789"
	r.values["webhook-token"] = "state-dir-scan-webhook-token"
	seen = append(seen, r.values["session-key"], r.values["webhook-token"])
	r.commitValues("rotate both")
	r.mustApply()
	r.values["session-key"] = "short-bad"
	seen = append(seen, r.values["session-key"])
	r.commitValues("a bad key")
	if res := r.rekey("apply"); res.code != 3 {
		t.Fatalf("exit %d, want 3", res.code)
	}
	err := filepath.WalkDir(r.stateDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, v := range seen {
			if bytes.Contains(data, []byte(v)) {
				t.Errorf("%s contains a secret value in plaintext", p)
			}
		}
		if fi, _ := d.Info(); fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v, want no group/other access", p, fi.Mode().Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
