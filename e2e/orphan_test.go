package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/internal/testenv"
)

// TestRenamedSecretMidTransaction: `rekey apply` is killed (SIGKILL after a journal record) while the
// session key rolls — app already runs the new key, the worker the old one — and the secret is then
// renamed in rekey.yaml (session-key → app-session) in the same commit that gives the webhook token a new
// value. The next apply must not stop: the orphan's transaction is rolled back from what its begin record
// says it touched, the webhook token rotates, and app-session rotates once the orphan has ended. The
// running containers, not rekey, say that every one of them converged.
func TestRenamedSecretMidTransaction(t *testing.T) {
	r := newRig(t, "0s")
	r.mustApply() // adopt what runs: the records below are the rotation's only
	oldKey := r.values["session-key"]
	newKey := "renamed-mid-rotation-session-secret-0001"
	newToken := "renamed-mid-rotation-webhook-token-0002"
	r.values["session-key"] = newKey
	r.commitValues("rotate the session key")

	// begin, snapshot (2), writing, write previous (2), write current (2), rolling, roll app (2): killed
	// right after app's roll is recorded done.
	res := r.rekeyOpts([]string{"--debug-kill-after-records", "11"}, "apply")
	if !res.killed {
		t.Fatalf("apply was not killed (exit %d):\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	txn, _ := r.secretStatus("session-key")["open_txn"].(map[string]any)
	if txn == nil || txn["phase"] != "rolling" {
		t.Fatalf("after the kill: open transaction %v, want one rolling", txn)
	}
	app, worker := r.fingerprints()
	if app["session_key"] != testenv.Fingerprint(newKey) || worker["session_key"] != testenv.Fingerprint(oldKey) {
		t.Fatalf("after the kill: app runs %v, worker %v: want app on the new key, the worker on the old one", app, worker)
	}

	r.config = strings.Replace(r.config, "  session-key:\n", "  app-session:\n", 1)
	writeFile(t, filepath.Join(r.repo, "rekey.yaml"), r.config)
	delete(r.values, "session-key")
	r.values["app-session"] = newKey
	r.values["webhook-token"] = newToken
	r.commitValues("rename session-key to app-session; a new webhook token")

	// plan shows what apply will do with the orphan, and that the secrets touching the same files wait.
	plan := r.rekey("plan")
	if plan.code != 0 || !strings.Contains(plan.stdout, "session-key") || !strings.Contains(plan.stdout, "no longer in rekey.yaml") {
		t.Errorf("plan (exit %d) does not show the orphan session-key:\n%s\n%s", plan.code, plan.stdout, plan.stderr)
	}
	var planned struct {
		Secrets []struct {
			Secret, Action string
			Orphan         bool
		}
	}
	if err := json.Unmarshal([]byte(r.rekey("plan", "--output", "json").stdout), &planned); err != nil {
		t.Fatalf("plan --output json: %v", err)
	}
	actions := map[string]string{}
	for _, sp := range planned.Secrets {
		actions[sp.Secret] = fmt.Sprintf("%s orphan=%v", sp.Action, sp.Orphan)
	}
	if actions["session-key"] != "recover orphan=true" || !strings.HasSuffix(actions["app-session"], " orphan=false") {
		t.Errorf("plan --output json: %v; want session-key recovered as an orphan, app-session declared", actions)
	}

	res = r.mustApply()
	for _, want := range []string{"session-key", "recovered", "app-session", "webhook-token", "rotated"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("apply output lacks %q:\n%s", want, res.stdout)
		}
	}
	app, worker = r.fingerprints()
	if app["session_key"] != testenv.Fingerprint(newKey) || app["session_key_previous"] != "" ||
		worker["session_key"] != testenv.Fingerprint(newKey) {
		t.Errorf("app runs %v, worker %v: want both on the new key, no previous", app, worker)
	}
	if app["webhook_token"] != testenv.Fingerprint(newToken) {
		t.Errorf("app runs webhook token %s, want the new one %s", app["webhook_token"], testenv.Fingerprint(newToken))
	}
	if env := r.stack.DotEnv(t); env["SESSION_SECRET"] != newKey || env["SESSION_SECRET_PREVIOUS"] != "" {
		t.Errorf(".env holds the session key %s / previous %s: not converged",
			testenv.Fingerprint(env["SESSION_SECRET"]), testenv.Fingerprint(env["SESSION_SECRET_PREVIOUS"]))
	}
	r.assertEnded("session-key", "recovered")
	r.assertEnded("app-session", "rotated")
	r.assertEnded("webhook-token", "rotated")
	if again := r.mustApply(); strings.Contains(again.stdout, "session-key") {
		t.Errorf("a later apply still mentions the orphan:\n%s", again.stdout)
	}
}
