package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/dockerio"
	"github.com/rekeyhq/rekey/internal/testenv"
	"github.com/rekeyhq/rekey/provider"
)

// The demo stack with its Redis in the aclfile layout (examples/demo/redis-aclfile): Redis keeps its users
// in a file of a mounted directory and does not read REDIS_PASSWORD, so rotating the password changes
// Redis live (ACL SETUSER, ACL SAVE) and never recreates it; only the app rolls, start-first behind Caddy.

// aclHash is the form Redis keeps a password in, in ACL LIST and in the aclfile: # and its SHA-256 in hex.
func aclHash(password string) string {
	sum := sha256.Sum256([]byte(password))
	return "#" + hex.EncodeToString(sum[:])
}

// TestRedisACLFileBehindProxy rotates the Redis password of the aclfile layout under load through Caddy:
// 0 failed requests on the load generator's own count, 0 failed logins in Redis's own ACL LOG, the same
// Redis container (ID and start time) before and after, its default user holding exactly the new
// password (ACL LIST) and the aclfile on disk too, and `docker compose up -d` recreating nothing.
func TestRedisACLFileBehindProxy(t *testing.T) {
	r := demoRepoRigWith(t, "redis-aclfile")
	eng, err := dockerio.New(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	redis := &redisProbe{t: t, exec: provider.Service{Engine: eng, Project: r.stack.Name, Name: "redis"}}
	old := r.stack.DotEnv(t)["REDIS_PASSWORD"]
	redis.observe(old)
	redisID, redisStarted := r.stack.ContainerID(t, "redis"), r.startedAt("redis")

	const next = "rotated-aclfile-Redis-pw-5d1e8b"
	r.setDemoValue("redis-password", next)
	plan := r.rekey("plan")
	section, _, _ := strings.Cut(plan.stdout[strings.Index(plan.stdout, "secret redis-password"):], "\n\n")
	if plan.code != 0 || !strings.Contains(section, "recreate app (start-first") || strings.Contains(section, "recreate redis") {
		t.Fatalf("plan should roll the app start-first and leave redis alone (exit %d):\n%s\n%s", plan.code, plan.stdout, plan.stderr)
	}

	watch := redis.watch()
	load := startLoad(fmt.Sprintf("http://127.0.0.1:%d/count", r.stack.AppPort), 4)
	time.Sleep(500 * time.Millisecond)
	res := r.rekey("apply")
	time.Sleep(500 * time.Millisecond)
	ok, failed, slowest, firstErr := load.stop()
	seen := watch()
	t.Logf("Redis password (aclfile) through Caddy: %d served, %d failed, slowest %s", ok, failed, slowest.Round(time.Millisecond))
	if res.code != 0 || !strings.Contains(res.stdout, "rotated") {
		t.Fatalf("apply exited %d:\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if failed != 0 || ok < 50 {
		t.Errorf("through Caddy: %d served, %d failed (first: %s), want 0 failed", ok, failed, firstErr)
	}
	if seen != 0 {
		t.Errorf("Redis recorded %d failed logins during the rotation", seen)
	}

	// Redis's own view: the same server process, holding the new password only, saved to its aclfile.
	if id, started := r.stack.ContainerID(t, "redis"), r.startedAt("redis"); id != redisID || started != redisStarted {
		t.Errorf("redis was recreated or restarted: %s started %s → %s started %s", redisID, redisStarted, id, started)
	}
	acl, err := redis.session("default", next, "ACL LIST")
	if err != nil {
		t.Fatalf("the new password does not log in: %v", err)
	}
	var line string
	for _, l := range strings.Split(acl, "\n") {
		if strings.HasPrefix(l, "user default ") {
			line = l
		}
	}
	if !strings.Contains(line, aclHash(next)+" ") || strings.Count(line, "#") != 1 {
		t.Errorf("ACL LIST: default holds %q, want the new password only", line)
	}
	file := r.stack.ReadFile(t, "redis-acl/users.acl")
	if !strings.Contains(file, aclHash(next)) || strings.Contains(file, aclHash(old)) {
		t.Errorf("the aclfile was not saved with the new password only:\n%s", file)
	}
	if redis.logsIn(old) {
		t.Error("the old password still logs in after the rotation")
	}
	if app := r.stack.Fingerprint(t, "app"); app["redis_password"] != testenv.Fingerprint(next) {
		t.Errorf("app runs redis password %s, want the new one", app["redis_password"])
	}
	assertUpRecreatesNothing(t, r)
	if d := r.rekey("drift"); d.code != 0 {
		t.Errorf("drift after the rotation exited %d:\n%s\n%s", d.code, d.stdout, d.stderr)
	}
}
