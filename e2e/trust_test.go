package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/internal/testenv"
)

// TestRefusesRewrittenHistory: after a rotation is applied, a force-push to a history that does not
// contain the applied commit is refused and changes nothing, until the operator says --allow-rewrite.
func TestRefusesRewrittenHistory(t *testing.T) {
	r := newRig(t, "0s")
	r.mustApply()
	base := r.git("rev-parse", "HEAD")
	r.values["session-key"] = "applied-then-rewritten-away-0123456789"
	r.commitValues("rotate")
	r.mustApply()
	applied := r.values["session-key"]

	r.git("reset", "-q", "--hard", base) // the rotation commit disappears from history
	r.values["session-key"] = "from-a-rewritten-history-0123456789ab"
	r.commitValues("rewritten")
	res := r.rekey("apply")
	if res.code != 5 || !strings.Contains(res.stderr, "does not descend from") {
		t.Fatalf("exit %d, want 5 with the reason\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if app, _ := r.fingerprints(); app["session_key"] != testenv.Fingerprint(applied) {
		t.Fatal("a refused commit changed the stack")
	}
	if res := r.rekeyOpts([]string{"--allow-rewrite"}, "apply"); res.code != 0 {
		t.Fatalf("with --allow-rewrite: exit %d\n%s", res.code, res.stderr)
	}
	if app, _ := r.fingerprints(); app["session_key"] != testenv.Fingerprint(r.values["session-key"]) {
		t.Fatal("--allow-rewrite did not apply the new history")
	}
}

// TestRefusesReplayedValue: a revert of a rotation commit is a fast-forward, so history is fine, but it
// brings back a value that was revoked: rekey refuses that secret and leaves the stack on the new value.
func TestRefusesReplayedValue(t *testing.T) {
	r := newRig(t, "0s")
	r.mustApply()
	r.values["session-key"] = "the-value-after-rotation-0123456789ab"
	r.commitValues("rotate")
	r.mustApply()
	r.git("revert", "--no-edit", "HEAD")
	res := r.rekey("apply")
	if res.code != 5 || !strings.Contains(res.stdout, "session-key      refused") {
		t.Fatalf("exit %d, want 5 with session-key refused\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if !strings.Contains(res.stdout, "webhook-token    in-sync") {
		t.Errorf("the other secret should still be reconciled:\n%s", res.stdout)
	}
	if app, _ := r.fingerprints(); app["session_key"] != testenv.Fingerprint(r.values["session-key"]) {
		t.Fatal("the revoked value came back")
	}
}

// TestRequiresTrustedSignatures: with --trust-ssh, a commit signed by the trusted key is applied, an
// unsigned one and one signed by another key are refused.
func TestRequiresTrustedSignatures(t *testing.T) {
	r := newRig(t, "0s")
	dir := t.TempDir()
	trusted, other := sshKey(t, dir, "trusted"), sshKey(t, dir, "other")
	allowed := filepath.Join(dir, "trusted-keys")
	pub, _ := os.ReadFile(trusted + ".pub")
	writeFile(t, allowed, string(pub))
	trust := []string{"--trust-ssh", allowed}

	r.values["session-key"] = "signed-by-the-trusted-key-0123456789ab"
	r.commitValues("unsigned rotation")
	if res := r.rekeyOpts(trust, "apply"); res.code != 5 || !strings.Contains(res.stderr, "not signed") && !strings.Contains(res.stderr, "unsigned") {
		t.Fatalf("unsigned commit: exit %d\n%s", res.code, res.stderr)
	}
	r.git("-c", "gpg.format=ssh", "-c", "user.signingkey="+other+".pub", "commit", "-q", "--amend", "--no-edit", "-S")
	if res := r.rekeyOpts(trust, "apply"); res.code != 5 || !strings.Contains(res.stderr, "untrusted") {
		t.Fatalf("commit signed by another key: exit %d\n%s", res.code, res.stderr)
	}
	if app, _ := r.fingerprints(); app["session_key"] == testenv.Fingerprint(r.values["session-key"]) {
		t.Fatal("an untrusted commit was applied")
	}
	r.git("-c", "gpg.format=ssh", "-c", "user.signingkey="+trusted+".pub", "commit", "-q", "--amend", "--no-edit", "-S")
	if res := r.rekeyOpts(trust, "apply"); res.code != 0 {
		t.Fatalf("trusted commit: exit %d\n%s", res.code, res.stderr)
	}
	if app, _ := r.fingerprints(); app["session_key"] != testenv.Fingerprint(r.values["session-key"]) {
		t.Fatal("the trusted commit was not applied")
	}
}

func sshKey(t *testing.T, dir, name string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	return path
}

// TestSignedWriteBackPassesVerification: with commit verification on, rekey's own write-back commits are
// accepted when it signs them with a trusted key, and refused (nothing applied) when it does not.
func TestSignedWriteBackPassesVerification(t *testing.T) {
	r := newRig(t, "0s")
	dir := t.TempDir()
	key := sshKey(t, dir, "rekey-bot")
	allowed := filepath.Join(dir, "trusted-keys")
	pub, _ := os.ReadFile(key + ".pub")
	writeFile(t, allowed, string(pub))
	r.git("-c", "gpg.format=ssh", "-c", "user.signingkey="+key+".pub", "commit", "-q", "--amend", "--no-edit", "-S")
	trust := []string{"--trust-ssh", allowed}
	if res := r.rekeyOpts(trust, "apply"); res.code != 0 {
		t.Fatalf("signed initial state: exit %d\n%s", res.code, res.stderr)
	}
	head := r.git("rev-parse", "HEAD")
	if res := r.rekeyOpts(trust, "rotate", "session-key"); res.code != 2 || !strings.Contains(res.stderr, "--signing-key") {
		t.Fatalf("write-back without a signing key under verification: exit %d, want 2\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if r.git("rev-parse", "HEAD") != head {
		t.Fatal("a write-back that would be refused was committed")
	}
	res := r.rekeyOpts(append(trust, "--signing-key", key), "rotate", "session-key")
	if res.code != 0 {
		t.Fatalf("signed write-back: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	value := r.committedValue("session-key")
	r.values["session-key"] = value
	if app, _ := r.fingerprints(); app["session_key"] != testenv.Fingerprint(value) {
		t.Fatal("the signed write-back was not applied")
	}
}

// gpgKey makes an unprotected OpenPGP key in its own GNUPGHOME and returns the home, the armored secret
// key file and the armored public key file.
func gpgKey(t *testing.T, name string) (home, secret, public string) {
	t.Helper()
	home = filepath.Join(t.TempDir(), "gnupg-"+name)
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	gpg := func(args ...string) []byte {
		cmd := exec.Command("gpg", append([]string{"--batch", "--homedir", home}, args...)...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("gpg %v: %v", args, err)
		}
		return out
	}
	gpg("--passphrase", "", "--quick-gen-key", name+" <"+name+"@example.invalid>", "ed25519", "sign", "never")
	secret, public = filepath.Join(home, "secret.asc"), filepath.Join(home, "public.asc")
	writeFile(t, secret, string(gpg("--armor", "--export-secret-keys")))
	writeFile(t, public, string(gpg("--armor", "--export")))
	return home, secret, public
}

// TestOpenPGPSignedWriteBack: with OpenPGP commit verification on, a write-back signed with a trusted
// OpenPGP key is committed and applied; one signed with an untrusted key is refused before anything is
// committed.
func TestOpenPGPSignedWriteBack(t *testing.T) {
	r := newRig(t, "0s")
	home, secret, public := gpgKey(t, "rekey-bot")
	_, otherSecret, _ := gpgKey(t, "stranger")
	cmd := exec.Command("git", "-c", "gpg.program=gpg", "-c", "user.signingkey=rekey-bot@example.invalid",
		"commit", "-q", "--amend", "--no-edit", "-S")
	cmd.Dir = r.repo
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + r.repo, "GNUPGHOME=" + home,
		"GIT_COMMITTER_NAME=Ops", "GIT_COMMITTER_EMAIL=ops@example.invalid"}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("signing the initial commit: %v\n%s", err, out)
	}
	trust := []string{"--trust-openpgp", public}
	if res := r.rekeyOpts(trust, "apply"); res.code != 0 {
		t.Fatalf("signed initial state: exit %d\n%s", res.code, res.stderr)
	}
	head := r.git("rev-parse", "HEAD")
	res := r.rekeyOpts(append(trust, "--signing-key", otherSecret), "rotate", "session-key")
	if res.code != 2 || !strings.Contains(res.stderr, "not listed in --trust-ssh or --trust-openpgp") {
		t.Fatalf("write-back signed by an untrusted OpenPGP key: exit %d, want 2\n%s", res.code, res.stderr)
	}
	if r.git("rev-parse", "HEAD") != head {
		t.Fatal("a write-back that would be refused was committed")
	}
	res = r.rekeyOpts(append(trust, "--signing-key", secret), "rotate", "session-key")
	if res.code != 0 {
		t.Fatalf("OpenPGP-signed write-back: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	value := r.committedValue("session-key")
	r.values["session-key"] = value
	if app, _ := r.fingerprints(); app["session_key"] != testenv.Fingerprint(value) {
		t.Fatal("the signed write-back was not applied")
	}
	if out := r.git("log", "-1", "--format=%G?"); out == "N" {
		t.Errorf("the write-back commit carries no signature (git says %q)", out)
	}
}
