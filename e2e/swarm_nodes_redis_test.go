package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/internal/testenv"
)

// swarmRedisStack is Redis 7 pinned to node2 with two ACL users from a Swarm config (admin, and app whose
// password rotates; default off; passwords by their SHA-256) and a client pinned to node1 that
// authenticates as app with its password file five times a second. TEST VALUES ONLY.
const swarmRedisStack = `services:
  cache:
    image: rekey-demo/redis:dev
    command: ["redis-server", "/etc/redis/users.conf"]
    configs:
      - source: users
        target: /etc/redis/users.conf
    deploy:
      endpoint_mode: dnsrr # no virtual IP: this kernel has no IPVS
      placement: {constraints: ["node.hostname == node2"]}
  client:
    image: rekey-demo/redis:dev
    entrypoint:
      - /bin/sh
      - -c
      - |
        trap 'exit 0' TERM INT
        while :; do
          out=$$(REDISCLI_AUTH=$$(cat /run/secrets/redis_password) redis-cli --no-auth-warning --user app -h cache ping 2>&1)
          [ "$$out" = PONG ] || echo "client: auth failed: $$out" >&2
          sleep 0.2 & wait $$!
        done
    stop_grace_period: 2s
    secrets:
      - source: redis_password
        target: redis_password
    healthcheck:
      test: ["CMD-SHELL", "[ \"$$(REDISCLI_AUTH=$$(cat /run/secrets/redis_password) redis-cli --no-auth-warning --user app -h cache ping)\" = PONG ]"]
      interval: 1s
      timeout: 3s
      retries: 3
    deploy:
      placement: {constraints: ["node.hostname == node1"]}
      update_config: {order: start-first, failure_action: pause, monitor: 3s}
configs:
  users:
    file: ./users.conf
secrets:
  redis_password:
    name: STACK_redis_password_v1
    file: ./secrets/redis_password
`

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestSwarmRedisAcrossNodes rotates the ACL password of a Redis user whose server runs on node2 while its
// client runs on node1, through relay jobs: the new password is added next to the old, the client's task
// moves to it, and only then is the old one removed; the client never fails to authenticate and Redis'
// ACL LOG records no failed login of app.
func TestSwarmRedisAcrossNodes(t *testing.T) {
	sw := testenv.RequireSwarmNodes(t, 2)
	testenv.RequireImages(t, "rekey-demo/redis:dev")
	relay := relayImage(t)
	sw.Load(t, "rekey-demo/redis:dev", relay)

	const oldPassword, adminPassword = "test-only-redis-app-pw-1c4e", "test-only-redis-admin-pw-9b0d"
	dir := t.TempDir()
	stack := "rkr" + strings.ToLower(testenv.Fingerprint(t.Name() + time.Now().String())[:6])
	writeFile(t, filepath.Join(dir, "stack.yaml"), strings.ReplaceAll(swarmRedisStack, "STACK", stack))
	writeFile(t, filepath.Join(dir, "users.conf"), fmt.Sprintf("user default off\nuser admin on #%s ~* &* +@all\nuser app on #%s ~* &* +@all\n",
		sha256Hex(adminPassword), sha256Hex(oldPassword)))
	writeFile(t, filepath.Join(dir, "secrets", "redis_password"), oldPassword)
	sw.Docker(t, dir, "stack", "deploy", "--resolve-image", "never", "-c", "stack.yaml", stack)
	waitReplicas(t, sw, stack+"_cache", stack+"_client")

	config := fmt.Sprintf(`version: 1
compose: {project_dir: %s, files: [stack.yaml]}
swarm: {stack: %s, relay_image: %s}
values: secrets.sops.yaml
health_timeout: 90s
servers:
  cache: {type: redis, service: cache, user: app, admin: {user: admin, password: redis-admin}}
secrets:
  redis-password:
    type: token
    server: cache
    file: secrets/redis_password
`, dir, stack, relay)
	r := newRigFor(t, nil, config, map[string]string{"redis-password": oldPassword, "redis-admin": adminPassword})
	const newPassword = "test-only-redis-app-pw-2 with spaces/é"
	r.values["redis-password"] = newPassword
	r.commitValues("rotate the redis password")
	start := time.Now()
	res := rekeyOn(r, sw.Host, "apply")
	if res.code != 0 {
		t.Fatalf("rekey apply exited %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	t.Logf("rekey apply (Redis on node2, client on node1): %s", time.Since(start).Round(time.Millisecond))

	ctr := taskContainerOn(t, sw, 0, stack+"_client")
	if got := sw.Exec(t, 0, "docker", "exec", ctr, "cat", "/run/secrets/redis_password"); got != newPassword {
		t.Errorf("the client's task does not mount the new password")
	}
	cache := taskContainerOn(t, sw, 1, stack+"_cache")
	auth := func(pw string) string {
		out, _ := sw.ExecStdin(t, 1, []byte(pw), "docker", "exec", "-i", cache, "sh", "-c",
			`REDISCLI_AUTH=$(cat) redis-cli --no-auth-warning --user app -h 127.0.0.1 ping 2>&1`)
		return strings.TrimSpace(out)
	}
	// Redis keeps failed logins in its ACL LOG (reason auth): none so far.
	aclLog, err := sw.ExecStdin(t, 1, []byte(adminPassword), "docker", "exec", "-i", cache, "sh", "-c",
		`REDISCLI_AUTH=$(cat) redis-cli --no-auth-warning --user admin -h 127.0.0.1 ACL LOG`)
	if err != nil || strings.Contains(aclLog, `"auth"`) {
		t.Errorf("Redis logged a failed login during the rotation (%v):\n%s", err, aclLog)
	}
	if got := auth(newPassword); got != "PONG" {
		t.Errorf("the new password does not log in: %q", got)
	}
	if got := auth(oldPassword); got == "PONG" {
		t.Errorf("the old password still logs in after the rotation")
	}
	log := serviceLogs(t, sw, stack+"_client", "--since", start.UTC().Format(time.RFC3339))
	if failed, unresolved := clientFailures(log, "client: auth failed"); len(failed) > 0 {
		t.Errorf("the client failed to authenticate during the rotation:\n%s", log)
	} else if unresolved > 0 {
		t.Logf("the client's new task could not resolve cache %d time(s) at its start (the overlay's service discovery on node1, not a login refused)", unresolved)
	}
}
