package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/rekeyhq/rekey/internal/testenv"
	"github.com/rekeyhq/rekey/sopsio"
)

// committedValue decrypts the values file at HEAD of the rig's repository.
func (r *rig) committedValue(secret string) string {
	r.t.Helper()
	data, err := os.ReadFile(filepath.Join(r.repo, "secrets.sops.yaml"))
	if err != nil {
		r.t.Fatal(err)
	}
	vals, err := sopsio.DecryptValues(data, "secrets.sops.yaml", []age.Identity{r.id})
	if err != nil {
		r.t.Fatal(err)
	}
	return vals[secret]
}

// TestRotateWritesBackFirst: `rekey rotate` generates a value, commits it to the repository, and only then
// applies it; the containers end on exactly the committed value and the working tree stays clean.
func TestRotateWritesBackFirst(t *testing.T) {
	r := newRig(t, "0s")
	r.mustApply()
	before := r.git("rev-parse", "HEAD")
	res := r.rekey("rotate", "session-key")
	if res.code != 0 {
		t.Fatalf("rotate exited %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if parent := r.git("rev-parse", "HEAD~1"); parent != before {
		t.Fatalf("the write-back commit is not on top of %s", before)
	}
	if msg := r.git("log", "-1", "--format=%an <%ae> %s"); msg != "rekey <rekey@localhost> rekey: rotate session-key (on demand)" {
		t.Errorf("commit = %q", msg)
	}
	if st := r.git("status", "--porcelain"); st != "" {
		t.Errorf("working tree not clean after write-back:\n%s", st)
	}
	value := r.committedValue("session-key")
	r.values["session-key"] = value // for the leak checks
	if len(value) != 32 || value == before {
		t.Fatalf("generated value has length %d", len(value))
	}
	app, worker := r.fingerprints()
	if app["session_key"] != testenv.Fingerprint(value) || worker["session_key"] != testenv.Fingerprint(value) {
		t.Fatalf("containers do not run the committed value: app=%v worker=%v", app, worker)
	}
	if strings.Contains(res.stdout+res.stderr, value) {
		t.Error("the generated value was printed")
	}
}

// TestAgentRotatesOnSchedule: with rotate_every, the agent writes a new value back to Git when the current
// one is old enough, then applies it.
func TestAgentRotatesOnSchedule(t *testing.T) {
	r := newRig(t, "0s")
	r.config = strings.Replace(r.config, "    keep_previous: 0s\n", "    keep_previous: 0s\n    rotate_every: 4s\n    generate: {length: 24, charset: hex, format: \"sk_test_{value}\"}\n", 1)
	writeFile(t, filepath.Join(r.repo, "rekey.yaml"), r.config)
	r.git("commit", "-qam", "rotate the session key every 4s")
	first := r.values["session-key"]
	r.startAgent(r.repo, "--interval", "2s")
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if log := r.git("log", "-1", "--format=%s"); strings.HasPrefix(log, "rekey: rotate session-key (rotate_every)") {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	value := r.committedValue("session-key")
	random, ok := strings.CutPrefix(value, "sk_test_")
	if value == first || !ok || len(random) != 24 || strings.Trim(random, "0123456789abcdef") != "" {
		t.Fatalf("no scheduled write-back in the declared format (value length %d)", len(value))
	}
	r.values["session-key"] = value
	r.waitRotated(value, time.Minute)
}
