#!/usr/bin/env bash
# The project's one test command: prepares the machine (scripts/setup.sh),
# builds the demo/test images (scripts/build-images.sh), then vets and tests
# every package from the repository root, the Swarm and dockerd fault tests last and alone.
# Extra arguments are flags for `go test` (the package list is always ./...), e.g.
#   scripts/test.sh -run TestDemoStack -v
set -euo pipefail

cd "$(dirname "$0")/.."

log() { printf '%s test: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

start=$SECONDS
scripts/setup.sh
scripts/build-images.sh

log "go vet ./..."
go vet ./...

# The Swarm tests run last, on their own: `docker swarm leave --force` drops the DNS records of every
# container running at that moment (moby/moby#45144; docs/testing.md, "Swarm tests and Compose stacks"),
# so no other test's Compose stack may run meanwhile. internal/testenv's engine lock enforces it too;
# running them apart also keeps a waiting Swarm test from holding one of `go test`'s parallel slots.
# The dockerd fault tests (e2e/fault_test.go) stop the engine itself: they hold the same lock exclusive
# and run apart with the Swarm tests, for the same reasons.
alone='^(TestSwarm|TestFaultDockerd)'
user_run=false
for a in "$@"; do
  case "$a" in -run|-run=*|-test.run|-test.run=*) user_run=true ;; esac
done
if $user_run; then # the caller chose the tests: one invocation, as asked (the engine lock still guards)
  log "go test -count=1 -timeout 60m $* ./..."
  go test -count=1 -timeout 60m "$@" ./...
else
  log "go test -count=1 -timeout 60m -skip '$alone' $* ./..."
  go test -count=1 -timeout 60m -skip "$alone" "$@" ./...
  log "go test -count=1 -timeout 30m -run '$alone' $* ./... (the Swarm and dockerd fault tests, alone)"
  go test -count=1 -timeout 30m -run "$alone" "$@" ./...
fi
log "done in $((SECONDS - start))s"
