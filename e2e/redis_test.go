package e2e

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/dockerio"
	"github.com/rekeyhq/rekey/internal/testenv"
	"github.com/rekeyhq/rekey/provider"
)

const redisSecret = `  redis-password:
    type: token
    env: {value: REDIS_PASSWORD}
    server: cache
servers:
  cache: {type: redis, service: redis}
`

// redisRig is the demo rig with the Redis password managed too.
func redisRig(t *testing.T) (*rig, *redisProbe) {
	r := newRig(t, "0s")
	r.values["redis-password"] = r.stack.DotEnv(t)["REDIS_PASSWORD"]
	r.config += redisSecret
	writeFile(t, filepath.Join(r.repo, "rekey.yaml"), r.config)
	r.commitValues("manage the redis password")
	if res := r.mustApply(); !strings.Contains(res.stdout, "redis-password") {
		t.Fatalf("apply does not know the redis password:\n%s", res.stdout)
	}
	eng, err := dockerio.New(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return r, &redisProbe{t: t, exec: provider.Service{Engine: eng, Project: r.stack.Name, Name: "redis"}}
}

// redisProbe talks to the demo's Redis with redis-cli inside its container, commands on stdin.
type redisProbe struct {
	t    *testing.T
	exec provider.Exec
}

func (p *redisProbe) session(user, password string, cmds ...string) (string, error) {
	in := fmt.Sprintf("AUTH %s %s\n%s\n", strconv.Quote(user), strconv.Quote(password), strings.Join(cmds, "\n"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code, out, err := p.exec.Exec(ctx, []string{"redis-cli", "-h", "127.0.0.1"}, []byte(in))
	if err != nil || code != 0 {
		return "", fmt.Errorf("redis-cli exited %d: %v: %s", code, err, out)
	}
	first, rest, _ := strings.Cut(string(out), "\n")
	if first != "OK" {
		return "", fmt.Errorf("AUTH: %s", first)
	}
	return rest, nil
}

func (p *redisProbe) logsIn(password string) bool {
	_, err := p.session("default", password, "PING")
	return err == nil
}

// observe creates a user that may read ACL LOG only, so that watching for failures never needs the
// rotated password.
func (p *redisProbe) observe(password string) {
	p.t.Helper()
	if _, err := p.session("default", password, "ACL SETUSER observer on >observer-pw +acl|log"); err != nil {
		p.t.Fatal(err)
	}
}

// authFailures sums the ACL LOG entries with reason auth (Redis groups repeats with a count), except the
// observer's own: on a recreated server it does not exist until observe runs again.
func (p *redisProbe) authFailures() (int, error) {
	out, err := p.session("observer", "observer-pw", "ACL LOG 1000")
	if err != nil {
		return 0, err
	}
	return testenv.RedisAuthFailures(out, "observer"), nil
}

// watch polls the server's failed-login count until stop is called, which returns the highest count
// seen. Redis keeps ACL LOG in memory only, and the rotation recreates the redis container last: the
// watch stops counting when the observer can no longer log in (the old server is gone), and the new
// server is checked on its own afterwards.
func (p *redisProbe) watch() (stop func() int) {
	done := make(chan struct{})
	var mu sync.Mutex
	highest := 0
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
			n, err := p.authFailures()
			if err != nil {
				continue // between servers
			}
			mu.Lock()
			highest = max(highest, n)
			mu.Unlock()
		}
	})
	return func() int {
		close(done)
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return highest
	}
}

// TestRotateRedisPassword rotates the password of Redis's default user on the demo stack while the worker
// keeps posting jobs the app counts in Redis (pooled and fresh connections): Redis accepts both passwords
// until the app verified the new one, then only the new one; Redis itself is recreated last, on its new
// environment, and not one login fails on the way.
func TestRotateRedisPassword(t *testing.T) {
	r, redis := redisRig(t)
	old := r.values["redis-password"]
	redis.observe(old)
	before := r.ids()

	const next = "rotated-Redis-pw-7f3a9c2e1b"
	r.values["redis-password"] = next
	r.commitValues("rotate the redis password")
	plan := r.rekey("plan")
	order := []string{"check cache accepts the current value", "stage", "on cache (the old value keeps working)",
		"recreate app", "wait healthy app", "record verified", "wait until no session on cache uses the old value",
		"revoke the old value on cache", "recreate redis", "wait healthy redis"}
	at := 0
	for _, want := range order {
		i := strings.Index(plan.stdout[at:], want)
		if i < 0 {
			t.Fatalf("plan lacks %q after position %d:\n%s", want, at, plan.stdout)
		}
		at += i
	}
	section, _, _ := strings.Cut(plan.stdout[strings.Index(plan.stdout, "secret redis-password"):], "\n\n")
	if strings.Contains(section, "worker") || strings.Count(section, "recreate redis") != 1 {
		t.Errorf("plan should roll app only, and redis once after the revoke:\n%s", plan.stdout)
	}

	stop := redis.watch()
	res := r.mustApply()
	seen := stop()
	if !strings.Contains(res.stdout, "rotated") {
		t.Fatalf("apply did not rotate:\n%s\n%s", res.stdout, res.stderr)
	}
	if seen != 0 {
		t.Errorf("Redis recorded %d failed logins during the rotation", seen)
	}
	if redis.logsIn(old) {
		t.Error("the old password still logs in after the rotation")
	}
	if !redis.logsIn(next) {
		t.Fatal("the new password does not log in")
	}
	redis.observe(next)
	if n, err := redis.authFailures(); err != nil || n != 1 { // the one deliberate try of the old password
		t.Errorf("the recreated Redis recorded %d failed logins (%v), want only the test's own try of the old one", n, err)
	}
	after := r.ids()
	if after["redis"] == before["redis"] || after["app"] == before["app"] || after["worker"] != before["worker"] {
		t.Errorf("containers %v → %v: want redis and app recreated, worker untouched", before, after)
	}
	app, _ := r.fingerprints()
	if app["redis_password"] != testenv.Fingerprint(next) {
		t.Errorf("app runs redis password %s, want the new one", app["redis_password"])
	}
	if logs := r.stack.Logs(t, "app"); strings.Contains(logs, "WRONGPASS") {
		t.Errorf("the app saw a rejected login:\n%s", logs)
	}
	// Jobs still flow: the app counts them in Redis with the new password.
	waitJobsCounted(t, redis, next)
	assertUpRecreatesNothing(t, r)
	if res := r.mustApply(); !strings.Contains(res.stdout, "in-sync") {
		t.Errorf("second apply:\n%s", res.stdout)
	}
}

func waitJobsCounted(t *testing.T, redis *redisProbe, password string) {
	t.Helper()
	first := -1
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		out, err := redis.session("default", password, "GET demo:jobs")
		if n, perr := strconv.Atoi(strings.TrimSpace(out)); err == nil && perr == nil {
			if first >= 0 && n > first {
				return
			}
			if first < 0 {
				first = n
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Errorf("the app stopped counting jobs in Redis (demo:jobs stuck at %d)", first)
}

// TestRedisRotationRollsBack makes the app fail verification after it rolled: rekey puts the old password
// back in the source and the app, and Redis back on the old password only; Redis is never recreated.
func TestRedisRotationRollsBack(t *testing.T) {
	r, redis := redisRig(t)
	old := r.values["redis-password"]
	before := r.ids()
	r.config = strings.Replace(r.config, "    server: cache\n", `    server: cache
    verify:
      - exec: {service: app, cmd: ["/demoapp", "probe", "http://127.0.0.1:8080/no-such-page"]}
`, 1)
	writeFile(t, filepath.Join(r.repo, "rekey.yaml"), r.config)
	const next = "doomed-Redis-pw-0b1c2d3e4f"
	r.values["redis-password"] = next
	r.commitValues("rotate the redis password, with a check that fails")
	res := r.rekey("apply")
	if res.code != 3 || !strings.Contains(res.stdout, "rolled-back") {
		t.Fatalf("apply exited %d, want 3 rolled-back:\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if !strings.Contains(res.stderr, "unstage on cache") {
		t.Errorf("the rollback did not unstage the server:\n%s", res.stderr)
	}
	if !redis.logsIn(old) || redis.logsIn(next) {
		t.Errorf("after the rollback: old logs in=%v, new logs in=%v; want only the old one", redis.logsIn(old), redis.logsIn(next))
	}
	if got := r.stack.DotEnv(t)["REDIS_PASSWORD"]; got != old {
		t.Error(".env does not hold the old password again")
	}
	app, _ := r.fingerprints()
	if app["redis_password"] != testenv.Fingerprint(old) {
		t.Error("the app does not run the old password again")
	}
	if after := r.ids(); after["redis"] != before["redis"] {
		t.Error("redis was recreated by a rotation that rolled back")
	}
}

// TestRedisDownBlocksRotation stops Redis: the check before the rotation fails, exit 1, and nothing
// changed — no source written, no transaction in the journal.
func TestRedisDownBlocksRotation(t *testing.T) {
	r, _ := redisRig(t)
	old := r.values["redis-password"]
	r.stack.Compose(t, "stop", "redis")
	r.values["redis-password"] = "never-applied-pw-5a6b7c8d"
	r.commitValues("rotate while redis is down")
	res := r.rekey("apply")
	if res.code != 1 || !strings.Contains(res.stdout, "blocked") || !strings.Contains(res.stdout, "no running container") {
		t.Fatalf("apply exited %d, want 1 blocked by the check:\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if got := r.stack.DotEnv(t)["REDIS_PASSWORD"]; got != old {
		t.Error(".env changed although the rotation was blocked")
	}
	if hist := r.rekey("history", "redis-password"); bytes.Contains([]byte(hist.stdout), []byte("begin")) {
		t.Errorf("a transaction was journaled:\n%s", hist.stdout)
	}
}

// TestSwapRedisPassword rotates the Redis password as a maintenance window (strategy swap): the app stops,
// Redis switches to the new password, the app starts on it, Redis is recreated last; no login fails.
func TestSwapRedisPassword(t *testing.T) {
	r := newRig(t, "0s")
	r.values["redis-password"] = r.stack.DotEnv(t)["REDIS_PASSWORD"]
	r.config += strings.Replace(redisSecret, "    server: cache\n", "    server: cache\n    strategy: swap\n", 1)
	writeFile(t, filepath.Join(r.repo, "rekey.yaml"), r.config)
	r.commitValues("manage the redis password, swapped")
	r.mustApply()
	eng, err := dockerio.New(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	redis := &redisProbe{t: t, exec: provider.Service{Engine: eng, Project: r.stack.Name, Name: "redis"}}
	old := r.values["redis-password"]
	redis.observe(old)
	const next = "swapped-Redis-pw-1a2b3c"
	r.values["redis-password"] = next
	r.commitValues("swap the redis password")
	stop := redis.watch()
	res := r.mustApply()
	seen := stop()
	if !strings.Contains(res.stdout, "rotated") || !strings.Contains(res.stdout, "consumers were stopped for") {
		t.Fatalf("apply:\n%s\n%s", res.stdout, res.stderr)
	}
	if seen != 0 {
		t.Errorf("Redis recorded %d failed logins during the swap", seen)
	}
	if redis.logsIn(old) || !redis.logsIn(next) {
		t.Errorf("after the swap: old logs in=%v, new logs in=%v", redis.logsIn(old), redis.logsIn(next))
	}
	waitJobsCounted(t, redis, next)
}
