package testenv

import (
	"context"
	"strings"
	"testing"
	"time"
)

// swarmLock serialises the tests that use a swarm across test processes (`go test ./...` runs packages
// in parallel): one test leaving the swarm it initialised must not pull it from under another, nor from
// under a Compose stack (enginelock.go).
const swarmLock = "/tmp/rekey-swarm-test.lock"

// RequireSwarm calls RequireDocker, takes the engine lock exclusive for the rest of the test, and makes the
// engine a single-node swarm manager (advertised on 127.0.0.1) unless it is one. If it initialised the
// swarm it leaves it when the test ends, failed or not, so that other tests find the engine as it was.
func RequireSwarm(tb testing.TB) {
	tb.Helper()
	RequireDocker(tb)
	// Exclusive: no other swarm test, and no Compose stack of any test, while this one may init and leave
	// the swarm (a leave breaks the running stacks' DNS: enginelock.go).
	holdFor(tb, true) // released last: after the leave below
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	state, err := run(ctx, "", "docker", "info", "--format", "{{.Swarm.LocalNodeState}}")
	if err != nil {
		tb.Fatalf("docker info: %v", err)
	}
	if strings.TrimSpace(state) == "active" {
		return
	}
	if _, err := run(ctx, "", "docker", "swarm", "init", "--advertise-addr", "127.0.0.1"); err != nil {
		tb.Fatalf("docker swarm init: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := run(ctx, "", "docker", "swarm", "leave", "--force"); err != nil {
			tb.Errorf("docker swarm leave --force: %v", err)
		}
	})
}

// swarmAppKeyStack is a two-service stack on a local image with a shell: both services mount app_key;
// their healthcheck refuses a key shorter than 32 bytes, like an application refusing a weak key.
const swarmAppKeyStack = `services:
  api:
    image: rekey-demo/redis:dev
    entrypoint: ["sh", "-c", "exec sleep 100000"]
    stop_grace_period: 1s
    secrets:
      - source: app_key
        target: app_key
    healthcheck:
      test: ["CMD-SHELL", "test $$(wc -c < /run/secrets/app_key) -ge 32"]
      interval: 1s
      timeout: 2s
      retries: 2
    deploy:
      update_config:
        order: start-first
        failure_action: pause
        monitor: 3s
  worker:
    image: rekey-demo/redis:dev
    entrypoint: ["sh", "-c", "exec sleep 100000"]
    stop_grace_period: 1s
    depends_on: [api]
    secrets:
      - source: app_key
        target: key.txt
    healthcheck:
      test: ["CMD-SHELL", "test $$(wc -c < /run/secrets/key.txt) -ge 32"]
      interval: 1s
      timeout: 2s
      retries: 2
    deploy:
      update_config:
        order: start-first
        failure_action: pause
        monitor: 3s
secrets:
  app_key:
    name: STACK_app_key_v1
    file: ./secrets/app_key
`

// SwarmAppKeyStack is the stack file of a two-service stack named stack (image rekey-demo/redis:dev,
// for its shell) whose services api and worker mount the secret app_key, from ./secrets/app_key, at
// /run/secrets/app_key and /run/secrets/key.txt; the object is named <stack>_app_key_v1. Both update
// start-first and their healthcheck refuses a key shorter than 32 bytes.
func SwarmAppKeyStack(stack string) string {
	return strings.ReplaceAll(swarmAppKeyStack, "STACK", stack)
}
