package e2e

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/internal/testenv"
)

// TestIsolationUnrelatedRotationLandsDuringAnIncident is the soak's failure isolation case on the real
// stack: the Redis password's rotation is stuck (Redis was stopped before its revoke and came back from
// its container environment with the old password only), so the app logs WRONGPASS at every job, and a
// top-level logs check denies WRONGPASS. A new session key, a secret of the same app unrelated to Redis,
// must still rotate and land: the WRONGPASS lines are the Redis incident's, not the session key's.
func TestIsolationUnrelatedRotationLandsDuringAnIncident(t *testing.T) {
	testenv.RequireImages(t)
	st := testenv.NewStack(t, testenv.DemoStackDir(t))
	st.Up(t)
	hook := newPauseHook(t)
	r := demoRig(t, st, "0s", "  - logs: {deny: [\"WRONGPASS\"]}\n"+hook.check())
	r.values["redis-password"] = st.DotEnv(t)["REDIS_PASSWORD"]
	r.config += redisSecret
	writeFile(t, filepath.Join(r.repo, "rekey.yaml"), r.config)
	r.commitValues("manage the redis password")
	r.mustApply() // adopts what runs: no check runs, so the hook is still armed

	// The Redis rotation pauses in its last check; Redis is stopped meanwhile, so its revoke fails.
	r.values["redis-password"] = "redis-rotated-0123456789abcdef"
	r.commitValues("rotate the redis password")
	run := r.startRekey("apply")
	hook.waitPaused(run, 3*time.Minute)
	r.stack.Compose(t, "stop", "redis")
	hook.resume()
	res := run.wait(3 * time.Minute)
	if !strings.Contains(res.stdout+res.stderr, "finalize-failed") {
		if res.code == 0 && strings.Contains(res.stderr, "recreate redis") {
			// A rekey that heals the server side (issue #18) waits for Redis and recreates it from its
			// sources: no incident is left for the session key to meet. The unit tests in
			// reconcile/isolate_test.go cover isolation then.
			t.Skip("the Redis rotation healed its server by itself: this rig cannot leave it stuck")
		}
		t.Fatalf("the redis rotation did not end finalize-failed (exit %d):\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	// Redis comes back from its container environment: the old password only. The app, on the new one,
	// now logs WRONGPASS at every job the worker posts.
	r.stack.Compose(t, "start", "redis")
	waitLogs(t, r, "app", regexp.MustCompile(`WRONGPASS`), time.Minute)
	before, _ := r.fingerprints()

	r.values["session-key"] = "isolation-session-key-0123456789abcdef0123456789"
	r.commitValues("rotate the session key")
	since := time.Now()
	res = r.rekey("apply", "--output", "json")
	results := applyResults(t, res)
	sk := results["session-key"]
	if sk["outcome"] != "rotated" {
		t.Fatalf("session-key = %v, want rotated: the Redis incident rolled it back\n%s", sk, res.stderr)
	}
	after, worker := r.fingerprints()
	if after["session_key"] == before["session_key"] || worker["session_key"] != after["session_key"] {
		t.Errorf("the new session key did not land: app %v → %v, worker %v", before, after, worker)
	}
	// While the Redis transaction is still stuck (this branch cannot heal the server), the WRONGPASS the
	// new app container logged is excused, and the session key's note says by which incident.
	if rp := results["redis-password"]; rp["outcome"] == "finalize-failed" {
		if !strings.Contains(st.Logs(t, "app"), "WRONGPASS") {
			t.Fatal("the app logged no WRONGPASS: the incident did not reach the session key's checks")
		}
		note, _ := sk["note"].(string)
		if !strings.Contains(note, "not held against this rotation: explained by secret redis-password's open transaction") {
			t.Errorf("session-key note %q does not name the redis incident", note)
		}
	}
	t.Logf("session key rotated %s after the apply started, with the redis password %v", time.Since(since).Round(time.Second), results["redis-password"]["outcome"])
}

// applyResults parses `apply --output json` into results by secret.
func applyResults(t *testing.T, res result) map[string]map[string]any {
	t.Helper()
	var out struct {
		Results []map[string]any `json:"results"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &out); err != nil {
		t.Fatalf("apply output (exit %d): %v\n%s\n%s", res.code, err, res.stdout, res.stderr)
	}
	by := map[string]map[string]any{}
	for _, r := range out.Results {
		name, _ := r["secret"].(string)
		if prev, ok := by[name]; ok && prev["outcome"] != "finalize-failed" {
			continue // keep the first, or the stuck one
		}
		by[name] = r
	}
	return by
}

// waitLogs waits until the service's logs match re.
func waitLogs(t *testing.T, r *rig, service string, re *regexp.Regexp, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !re.MatchString(r.stack.Logs(t, service)) {
		if time.Now().After(deadline) {
			t.Fatalf("%s logged nothing matching %s within %v", service, re, timeout)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
