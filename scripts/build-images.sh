#!/usr/bin/env bash
# Builds the demo/test images without a registry:
#   rekey-demo/app:dev    FROM scratch + static examples/demo/app (legacy builder)
#   rekey-demo/redis:dev  Redis 7 from Debian bookworm: mmdebstrap | docker import
# An image is skipped when it exists and its rekey.source label matches what it
# would be built from now; --force rebuilds regardless.
#
# usage: scripts/build-images.sh [--force] [app] [redis]   (default: all)
# Environment: DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR (default deb.debian.org).
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)

APP_IMAGE=rekey-demo/app:dev
REDIS_IMAGE=rekey-demo/redis:dev
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBIAN_SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

log() { printf '%s build-images: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

force=0
targets=()
for arg in "$@"; do
	case $arg in
	--force | -f) force=1 ;;
	app | redis) targets+=("$arg") ;;
	-h | --help)
		sed -n '2,10p' "$0"
		exit 0
		;;
	*) die "unknown argument: $arg (usage: $0 [--force] [app] [redis])" ;;
	esac
done
[ ${#targets[@]} -gt 0 ] || targets=(app redis)

docker info >/dev/null 2>&1 || die "docker is not reachable; run scripts/setup.sh first"

# hash_files FILE... prints one sha256 over the names and contents of FILEs.
hash_files() {
	sha256sum "$@" | sha256sum | cut -c1-32
}

# up_to_date IMAGE HASH: whether IMAGE exists with label rekey.source=HASH.
up_to_date() {
	local have
	have=$(docker image inspect --format '{{index .Config.Labels "rekey.source"}}' "$1" 2>/dev/null) || return 1
	[ "$have" = "$2" ]
}

build_app() {
	local src=examples/demo/app hash ctx start
	# Inputs: the non-test sources, the Dockerfile and the Go toolchain version.
	hash=$( (
		go version
		find "$src" -type f ! -name '*_test.go' -print0 | sort -z | xargs -0 sha256sum
	) | sha256sum | cut -c1-32)
	if [ $force -eq 0 ] && up_to_date "$APP_IMAGE" "$hash"; then
		log "$APP_IMAGE is up to date (rekey.source=$hash); skipping (--force rebuilds)"
		return
	fi
	start=$SECONDS
	log "building $APP_IMAGE from $src"
	ctx=$(mktemp -d /tmp/rekey-app-image.XXXXXX)
	CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$ctx/demoapp" "./$src"
	cp "$src/Dockerfile" "$ctx/Dockerfile"
	# The legacy builder: there is no buildx here, and BuildKit would want to pull.
	if ! DOCKER_BUILDKIT=0 docker build --quiet --label "rekey.source=$hash" -t "$APP_IMAGE" "$ctx" >/dev/null; then
		rm -rf "$ctx"
		die "docker build of $APP_IMAGE failed"
	fi
	rm -rf "$ctx"
	log "built $APP_IMAGE in $((SECONDS - start))s ($(docker image inspect --format '{{.Size}}' "$APP_IMAGE") bytes)"
}

build_redis() {
	local dir=examples/demo/images/redis hash tmp start status
	command -v mmdebstrap >/dev/null 2>&1 || die "mmdebstrap is missing; run scripts/setup.sh first"
	# Inputs: the files copied into the image and the recipe below (bump when changing it).
	local recipe="v1 bookworm essential redis-server merged-usr"
	hash=$( (
		echo "$recipe"
		sha256sum "$dir"/*
	) | sha256sum | cut -c1-32)
	if [ $force -eq 0 ] && up_to_date "$REDIS_IMAGE" "$hash"; then
		log "$REDIS_IMAGE is up to date (rekey.source=$hash); skipping (--force rebuilds)"
		return
	fi
	start=$SECONDS
	log "building $REDIS_IMAGE from Debian bookworm packages (mirror $DEBIAN_MIRROR)"
	# Import under a temporary tag, so that a failed mmdebstrap (a truncated tar)
	# never replaces a good image.
	tmp="rekey-demo/redis:partial-$$"
	mmlog=$(mktemp /tmp/rekey-mmdebstrap.XXXXXX.log)
	set +e
	mmdebstrap --quiet --variant=essential --include=redis-server \
		--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
		--dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-include=/usr/share/doc/*/copyright' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		--customize-hook='mkdir -p "$1/data"' \
		--customize-hook="upload $dir/entrypoint.sh /usr/local/bin/docker-entrypoint" \
		--customize-hook="upload $dir/healthcheck.sh /usr/local/bin/redis-healthcheck" \
		--customize-hook='chmod 0755 "$1/usr/local/bin/docker-entrypoint" "$1/usr/local/bin/redis-healthcheck"' \
		--customize-hook='rm -rf "$1"/var/cache/apt/*.bin "$1"/var/lib/apt/lists/*' \
		--format=tar bookworm - \
		"deb $DEBIAN_MIRROR bookworm main" \
		"deb $DEBIAN_MIRROR bookworm-updates main" \
		"deb $DEBIAN_SECURITY_MIRROR bookworm-security main" 2>"$mmlog" |
		docker import \
			--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
			--change 'WORKDIR /data' \
			--change 'EXPOSE 6379' \
			--change "LABEL rekey.source=$hash" \
			--change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint"]' \
			--change 'CMD ["redis-server"]' \
			--change 'HEALTHCHECK --interval=2s --timeout=2s --retries=5 CMD ["/usr/local/bin/redis-healthcheck"]' \
			- "$tmp" >/dev/null
	status=("${PIPESTATUS[@]}")
	set -e
	if [ "${status[0]}" -ne 0 ] || [ "${status[1]}" -ne 0 ]; then
		docker image rm "$tmp" >/dev/null 2>&1 || true
		log "last lines of the mmdebstrap log ($mmlog):"
		tail -n 40 "$mmlog" >&2
		die "building $REDIS_IMAGE failed (mmdebstrap exit ${status[0]}, docker import exit ${status[1]})"
	fi
	rm -f "$mmlog"
	docker tag "$tmp" "$REDIS_IMAGE"
	docker image rm "$tmp" >/dev/null
	log "built $REDIS_IMAGE in $((SECONDS - start))s ($(docker run --rm --entrypoint redis-server "$REDIS_IMAGE" --version | cut -d' ' -f1-3), $(docker image inspect --format '{{.Size}}' "$REDIS_IMAGE") bytes)"
}

total=$SECONDS
for target in "${targets[@]}"; do
	"build_$target"
done
log "done in $((SECONDS - total))s"
