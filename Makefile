# Shortcuts for the scripts that do the work; nothing here is needed to build or test rekey.
#   make build            static bin/rekey, stamped with version, commit and commit date (no Docker needed)
#   make image [TAG=…]    bin/rekey and the FROM-scratch image (default rekey:dev)
#   make test [TESTFLAGS="-run TestX -v"]   the whole suite: scripts/test.sh (prepares Docker, builds images)
#   make bench [BENCHFLAGS=…]               go run ./bench
TAG ?= rekey:dev
OUT ?= bin
TESTFLAGS ?=
BENCHFLAGS ?=

.PHONY: build image test bench

build:
	scripts/package.sh --binary-only --out $(OUT)

image:
	scripts/package.sh --out $(OUT) $(TAG)

test:
	scripts/test.sh $(TESTFLAGS)

bench:
	go run ./bench $(BENCHFLAGS)
