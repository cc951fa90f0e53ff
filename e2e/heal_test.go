package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/internal/testenv"
)

// The credential server restarts mid-rotation (issue 18): a crash, an OOM kill, `docker restart` or a
// reboot brings it back from its bootstrap configuration. The demo's Redis takes requirepass from its
// container's environment, so it comes back accepting the old password only, whatever rekey staged or
// revoked live. rekey must converge with no operator action: the apply that meets the fault, or the
// next one (what the agent runs at its next interval). Each case injects the fault at one server step
// of the rotation and proves the result through Redis itself and the running containers, not through
// rekey's word.

// serverFault is how the server is broken: restarted in place, or stopped and started a while later.
type serverFault struct {
	name string
	down time.Duration // 0: docker restart; else docker stop, then docker start after down
}

var (
	faultRestart   = serverFault{name: "docker restart"}
	faultStopStart = serverFault{name: "docker stop, start 8s later", down: 8 * time.Second}
)

// inject breaks service's container; a stop/start is completed in the background. The returned function
// waits for that to finish.
func (f serverFault) inject(t *testing.T, r *rig, service string) (done func()) {
	t.Helper()
	id := r.stack.ContainerID(t, service)
	t.Logf("fault: %s of %s", f.name, service)
	if f.down == 0 {
		docker(t, "restart", "-t", "2", id)
		return func() {}
	}
	docker(t, "stop", "-t", "2", id)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		time.Sleep(f.down)
		// rekey may have recreated the service meanwhile (the old container is gone): not a failure.
		if out, err := exec.Command("docker", "start", id).CombinedOutput(); err != nil {
			t.Logf("docker start %s: %v: %s", service, err, strings.TrimSpace(string(out)))
		}
	}()
	return func() { <-finished }
}

// docker runs the docker CLI on a container (no value in argv); a failure is logged, not fatal: the
// container may have been recreated by rekey at the same moment, which is part of the fault.
func docker(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput(); err != nil {
		t.Logf("docker %s: %v: %s", args[0], err, strings.TrimSpace(string(out)))
	}
}

// healPoint is the server step at which the fault hits.
type healPoint int

const (
	atStage        healPoint = iota // as the new value is staged (right after the snapshot)
	atBeforeRevoke                  // after every consumer moved to the new value, before the revoke
	atRevoke                        // as the old value is revoked (right after drain)
)

// redisHealRig is the redis rig with a pause hook among the Redis password's checks (run after the app
// moved to the new password), for the faults injected before the revoke.
func redisHealRig(t *testing.T) (*rig, *redisProbe, *pauseHook) {
	r, redis := redisRig(t)
	hook := newPauseHook(t)
	r.config = strings.Replace(r.config, "    server: cache\n",
		fmt.Sprintf("    server: cache\n    verify:\n      - cmd: [\"/bin/sh\", %q]\n", filepath.Join(hook.dir, "hook.sh")), 1)
	writeFile(t, filepath.Join(r.repo, "rekey.yaml"), r.config)
	r.commitValues("pause the redis rotation after the app moved")
	r.mustApply()
	return r, redis, hook
}

func TestHealRedisRestartAtStage(t *testing.T)        { healRedis(t, atStage, faultRestart) }
func TestHealRedisStopStartAtStage(t *testing.T)      { healRedis(t, atStage, faultStopStart) }
func TestHealRedisRestartBeforeRevoke(t *testing.T)   { healRedis(t, atBeforeRevoke, faultRestart) }
func TestHealRedisStopStartBeforeRevoke(t *testing.T) { healRedis(t, atBeforeRevoke, faultStopStart) }
func TestHealRedisRestartDuringRevoke(t *testing.T)   { healRedis(t, atRevoke, faultRestart) }
func TestHealRedisStopStartDuringRevoke(t *testing.T) { healRedis(t, atRevoke, faultStopStart) }

var (
	redisSnapshotDone = regexp.MustCompile(`redis-password\s+snapshot \S+\s+ok`)
	redisDrainDone    = regexp.MustCompile(`redis-password\s+wait until no session on cache uses the old value\s+ok`)
)

// healRedis rotates the Redis password, breaks Redis at point, and lets rekey converge: the faulted apply,
// then at most two more (two agent intervals), with no operator action.
func healRedis(t *testing.T, point healPoint, fault serverFault) {
	r, redis, hook := redisHealRig(t)
	old := r.values["redis-password"]
	next := fmt.Sprintf("healed-Redis-pw-%d-%d", point, fault.down/time.Second)
	r.values["redis-password"] = next
	r.commitValues("rotate the redis password; redis restarts mid-rotation")
	load := startHammer(r.stack.AppPort)

	run := r.startRekey("apply")
	var faulted time.Time
	var restarted func()
	switch point {
	case atStage:
		run.waitStderr(redisSnapshotDone, 2*time.Minute)
		faulted, restarted = time.Now(), fault.inject(t, r, "redis")
		hook.resume()
	case atBeforeRevoke:
		hook.waitPaused(run, 2*time.Minute)
		faulted, restarted = time.Now(), fault.inject(t, r, "redis")
		hook.resume()
	case atRevoke:
		hook.resume()
		run.waitStderr(redisDrainDone, 2*time.Minute)
		faulted, restarted = time.Now(), fault.inject(t, r, "redis")
	}
	res := run.wait(3 * time.Minute)
	ended := time.Now()
	t.Logf("the apply that met the fault exited %d after %v:\n%s%s", res.code, ended.Sub(faulted).Round(100*time.Millisecond), res.stdout, lastLines(res.stderr, 12))
	restarted()
	runs := 1
	for ; runs <= 2 && !redisConverged(res); runs++ {
		res = r.rekey("apply") // the agent's next interval
		ended = time.Now()
		t.Logf("follow-up apply %d exited %d:\n%s", runs, res.code, res.stdout)
	}
	if !redisConverged(res) {
		t.Fatalf("rekey did not converge within two follow-up applies: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	took := ended.Sub(faulted)
	load.done()
	t.Logf("FIGURE heal redis %s at %s: converged %v after the fault, in apply %d; %d of %d requests failed meanwhile",
		fault.name, []string{"stage", "before revoke", "revoke"}[point], took.Round(100*time.Millisecond), runs, load.failed.Load(), load.requests.Load())
	assertRedisOn(t, r, redis, old, next)
}

// redisConverged says whether an apply ended with the Redis password in sync or rotated (exit 0).
func redisConverged(res result) bool {
	return res.code == 0 && regexp.MustCompile(`redis-password\s+(in-sync|rotated|finalized)`).MatchString(res.stdout)
}

// assertRedisOn proves, through Redis and the running containers, that the rotation to next is complete
// and lasting: Redis accepts next only, its ACL holds next's hash only, its container boots on next, the
// app runs next and counts jobs with it, and a further restart changes none of it.
func assertRedisOn(t *testing.T, r *rig, redis *redisProbe, old, next string) {
	t.Helper()
	r.assertEnded("redis-password", "rotated", "finalized")
	for round := range 2 {
		if !redis.logsIn(next) {
			t.Fatalf("round %d: the new password does not log in to Redis", round)
		}
		if redis.logsIn(old) {
			t.Errorf("round %d: Redis still accepts the old password", round)
		}
		acl, err := redis.session("default", next, "ACL LIST")
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(next))
		for _, l := range strings.Split(acl, "\n") {
			if strings.Contains(l, "user default ") && (strings.Count(l, " #") != 1 || !strings.Contains(l, "#"+hex.EncodeToString(sum[:]))) {
				t.Errorf("round %d: Redis's default user holds %d passwords, want the new one only", round, strings.Count(l, " #"))
			}
		}
		if fp := containerEnvFP(t, r, "redis", "REDIS_PASSWORD"); fp != testenv.Fingerprint(next) {
			t.Errorf("round %d: the redis container boots with %s, want the new password: a restart would bring the old one back", round, fp)
		}
		if app, _ := r.fingerprints(); app["redis_password"] != testenv.Fingerprint(next) {
			t.Errorf("round %d: the app runs redis password %s, want the new one", round, app["redis_password"])
		}
		r.waitServing(60 * time.Second)
		waitJobsCounted(t, redis, next)
		if round == 0 { // lasting: restart Redis once more, as the fault did
			docker(t, "restart", "-t", "2", r.stack.ContainerID(t, "redis"))
			waitRedis(t, redis, next)
		}
	}
	if res := r.rekey("apply"); res.code != 0 || !strings.Contains(res.stdout, "in-sync") {
		t.Errorf("a last apply is not in sync (exit %d):\n%s", res.code, res.stdout)
	}
}

// waitRedis waits until Redis answers a login with password after a restart.
func waitRedis(t *testing.T, redis *redisProbe, password string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !redis.logsIn(password) {
		if time.Now().After(deadline) {
			t.Fatal("Redis does not take the new password 30s after a restart")
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// containerEnvFP is the fingerprint of a variable in the environment the service's running container was
// created with (what it boots on after a restart). The value stays in this process.
func containerEnvFP(t *testing.T, r *rig, service, key string) string {
	t.Helper()
	out, err := exec.Command("docker", "inspect", "-f", "{{json .Config.Env}}", r.stack.ContainerID(t, service)).Output()
	if err != nil {
		t.Fatalf("docker inspect %s: %v", service, err)
	}
	var env []string
	if err := json.Unmarshal(out, &env); err != nil {
		t.Fatalf("docker inspect %s: %v", service, err)
	}
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return testenv.Fingerprint(v)
		}
	}
	return ""
}

func TestHealPostgresRestartBeforeRevoke(t *testing.T)   { healPostgres(t, faultRestart) }
func TestHealPostgresStopStartBeforeRevoke(t *testing.T) { healPostgres(t, faultStopStart) }

// healPostgres restarts PostgreSQL after the app moved to the new login and before the revoke. The server
// keeps its roles on disk; rekey waits for it and finishes: the old role loses LOGIN and its password,
// and the server logs no failed login (the app reconnects on the new login).
func healPostgres(t *testing.T, fault serverFault) {
	hook := newPauseHook(t)
	r := pgRig(t, fmt.Sprintf("    verify:\n      - cmd: [\"/bin/sh\", %q]\n", filepath.Join(hook.dir, "hook.sh")))
	base := authFailures(t, r)
	const next = "healed-db-password-7e21"
	r.values["db-password"] = next
	r.commitValues("rotate the database password; the server restarts before the revoke")
	load := startHammer(r.stack.AppPort)

	run := r.startRekey("apply")
	hook.waitPaused(run, 2*time.Minute)
	faulted, restarted := time.Now(), fault.inject(t, r, "db")
	hook.resume()
	res := run.wait(3 * time.Minute)
	ended := time.Now()
	t.Logf("the apply that met the fault exited %d after %v:\n%s%s", res.code, ended.Sub(faulted).Round(100*time.Millisecond), res.stdout, lastLines(res.stderr, 12))
	restarted()
	runs := 1
	converged := func(res result) bool {
		return res.code == 0 && regexp.MustCompile(`db-password\s+(in-sync|rotated|finalized)`).MatchString(res.stdout)
	}
	for ; runs <= 2 && !converged(res); runs++ {
		res = r.rekey("apply")
		ended = time.Now()
		t.Logf("follow-up apply %d exited %d:\n%s", runs, res.code, res.stdout)
	}
	if !converged(res) {
		t.Fatalf("rekey did not converge within two follow-up applies: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	took := ended.Sub(faulted)
	r.waitServing(60 * time.Second)
	load.done()
	t.Logf("FIGURE heal postgres %s before revoke: converged %v after the fault, in apply %d; %d of %d requests failed meanwhile",
		fault.name, took.Round(100*time.Millisecond), runs, load.failed.Load(), load.requests.Load())

	r.assertEnded("db-password", "rotated", "finalized")
	if got := psql(t, r, "SELECT string_agg(rolname || ':' || rolcanlogin || ':' || (rolpassword IS NULL), ',' ORDER BY rolname) FROM pg_authid WHERE rolname IN ('shop_a','shop_b')"); got != "shop_a:false:true,shop_b:true:false" {
		t.Errorf("roles: %s, want shop_a without login and password, shop_b active", got)
	}
	if app, _ := r.fingerprints(); app["db_user"] != "shop_b" || app["db_password"] != testenv.Fingerprint(next) {
		t.Errorf("the app runs %s with %s, want shop_b with the new password", app["db_user"], app["db_password"])
	}
	if n := authFailures(t, r) - base; n != 0 {
		t.Errorf("PostgreSQL logged %d failed logins", n)
	}
	if n := load.auth.Load(); n != 0 {
		t.Errorf("the app reported %d rejected logins", n)
	}
	if res := r.rekey("apply"); res.code != 0 || !strings.Contains(res.stdout, "in-sync") {
		t.Errorf("a last apply is not in sync (exit %d):\n%s", res.code, res.stdout)
	}
}
