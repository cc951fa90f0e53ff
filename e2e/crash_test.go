package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/internal/testenv"
)

// TestKillAtEveryJournalStep kills rekey with SIGKILL right after each journal record of a rotation in
// turn, then runs apply again: every time the stack must converge on the new value, with previous
// cleared and no open transaction, as reported by the containers themselves.
func TestKillAtEveryJournalStep(t *testing.T) {
	r := newRig(t, "0s")
	for n := 1; ; n++ {
		value := fmt.Sprintf("crash-test-session-secret-%04d-abcdef", n)
		r.values["session-key"] = value
		r.commitValues(fmt.Sprintf("rotation %d", n))
		res := r.rekeyOpts([]string{"--debug-kill-after-records", fmt.Sprint(n)}, "apply")
		if !res.killed {
			if res.code != 0 {
				t.Fatalf("run %d exited %d without being killed:\n%s\n%s", n, res.code, res.stdout, res.stderr)
			}
			if n < 10 {
				t.Fatalf("a rotation wrote only %d journal records", n-1)
			}
			t.Logf("a full rotation writes %d journal records; each was a kill point", n-1)
			return
		}
		res = r.rekey("apply")
		if res.code != 0 {
			t.Fatalf("after kill at record %d, apply exited %d:\n%s\n%s", n, res.code, res.stdout, res.stderr)
		}
		app, worker := r.fingerprints()
		want := testenv.Fingerprint(value)
		if app["session_key"] != want || worker["session_key"] != want || app["session_key_previous"] != "" {
			t.Fatalf("after kill at record %d: app=%v worker=%v, want %s and no previous", n, app, worker, want)
		}
		if env := r.stack.DotEnv(t); env["SESSION_SECRET"] != value || env["SESSION_SECRET_PREVIOUS"] != "" {
			t.Fatalf("after kill at record %d: .env not converged", n)
		}
		if s := r.rekey("status"); strings.Contains(s.stdout, "open transaction") {
			t.Fatalf("after kill at record %d: %s", n, s.stdout)
		}
	}
}
