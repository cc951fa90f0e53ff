#!/usr/bin/env bash
# The project's one test command: prepares the machine (scripts/setup.sh),
# builds the demo/test images (scripts/build-images.sh), then vets and tests
# every package from the repository root. Extra arguments are flags for
# `go test` (the package list is always ./...), e.g.
#   scripts/test.sh -run TestDemoStack -v
set -euo pipefail

cd "$(dirname "$0")/.."

log() { printf '%s test: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

start=$SECONDS
scripts/setup.sh
scripts/build-images.sh

log "go vet ./..."
go vet ./...

log "go test -count=1 -timeout 60m $* ./..."
go test -count=1 -timeout 60m "$@" ./...
log "done in $((SECONDS - start))s"
