package e2e

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/dockerio"
	"github.com/rekeyhq/rekey/internal/testenv"
	"github.com/rekeyhq/rekey/provider"
)

// TestIsolationUnrelatedRotationLandsDuringAnIncident is the soak's failure isolation case on the real
// stack: the Redis password's rotation is stuck (during it, someone set a third password on Redis by hand,
// so its revoke fails and no heal can tell which value the server should hold), the app logs WRONGPASS at
// every job, and a top-level logs check denies WRONGPASS. A new session key, a secret of the same app
// unrelated to Redis, must still rotate and land: the WRONGPASS lines are the Redis incident's.
//
// Redis reads its bootstrap password from a literal in compose.override.yaml, not from .env: rekey does not
// roll it, and so cannot recreate it onto the sources either; the stuck transaction stays stuck.
func TestIsolationUnrelatedRotationLandsDuringAnIncident(t *testing.T) {
	testenv.RequireImages(t)
	st := testenv.NewStack(t, testenv.DemoStackDir(t))
	old := st.DotEnv(t)["REDIS_PASSWORD"]
	writeFile(t, filepath.Join(st.Dir, "compose.override.yaml"),
		"services:\n  redis:\n    environment:\n      REDIS_PASSWORD: "+strconv.Quote(old)+"\n")
	st.Up(t)
	hook := newPauseHook(t)
	r := demoRig(t, st, "0s", "  - logs: {deny: [\"WRONGPASS\"]}\n"+hook.check())
	r.values["redis-password"] = old
	// The app rolls stop-first here, as it did when it published the port itself: the worker's next job,
	// and so its WRONGPASS, reaches the new app container within its logs check. Started first, the new
	// container gets no job before its check ends (the old one serves until it is healthy) and the incident
	// never reaches the session key's checks.
	r.config += redisSecret + "services:\n  app: {strategy: stop-first}\n"
	writeFile(t, filepath.Join(r.repo, "rekey.yaml"), r.config)
	r.commitValues("manage the redis password")
	r.mustApply() // adopts what runs: no check runs, so the hook is still armed
	eng, err := dockerio.New(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	redis := &redisProbe{t: t, exec: provider.Service{Engine: eng, Project: st.Name, Name: "redis"}}

	// The Redis rotation pauses in its last check, the app already on the new password; meanwhile a third
	// password replaces both on the server, so the revoke that follows fails.
	r.values["redis-password"] = "redis-rotated-0123456789abcdef"
	r.commitValues("rotate the redis password")
	run := r.startRekey("apply")
	hook.waitPaused(run, 3*time.Minute)
	if _, err := redis.session("default", old, "ACL SETUSER default resetpass >isolation-by-hand-0123456789",
		"CONFIG SET requirepass isolation-by-hand-0123456789"); err != nil {
		t.Fatal(err)
	}
	hook.resume()
	res := run.wait(3 * time.Minute)
	if !strings.Contains(res.stdout+res.stderr, "finalize-failed") {
		t.Fatalf("the redis rotation did not end finalize-failed (exit %d):\n%s\n%s", res.code, res.stdout, res.stderr)
	}
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
	// The Redis transaction is still stuck: the WRONGPASS the new app container logged is excused, and the
	// session key's note says by which incident.
	if rp := results["redis-password"]; rp["outcome"] != "finalize-failed" {
		t.Fatalf("redis-password = %v, want still finalize-failed (a third password: nothing to heal to)", rp)
	}
	if !strings.Contains(st.Logs(t, "app"), "WRONGPASS") {
		t.Fatal("the app logged no WRONGPASS: the incident did not reach the session key's checks")
	}
	note, _ := sk["note"].(string)
	if !strings.Contains(note, "not held against this rotation: explained by secret redis-password's open transaction") {
		t.Errorf("session-key note %q does not name the redis incident", note)
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
