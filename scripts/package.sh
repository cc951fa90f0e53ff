#!/usr/bin/env bash
# Builds rekey for release: a static binary and a FROM-scratch image.
#
#   scripts/package.sh [--binary-only] [--out DIR] [TAG]
#
#   TAG            image tag (default rekey:dev)
#   --out DIR      where the binary goes (default bin/, ignored by git): DIR/rekey
#   --binary-only  build the binary only: no Docker needed
#
# The binary: CGO_ENABLED=0, -trimpath, stripped (-s -w), with main.version, main.commit (HEAD) and
# main.date (the commit date, UTC: the same commit always builds the same binary) set by the linker.
#
# The image (legacy `docker build`, FROM scratch, from a temporary context directory) holds:
#   /usr/local/bin/rekey                                 the binary above (ENTRYPOINT; CMD version)
#   /usr/local/bin/docker                                the static docker CLI found on this host
#   /usr/local/lib/docker/cli-plugins/docker-compose     the static Compose plugin found on this host
#   /etc/ssl/certs/ca-certificates.crt                   this host's CA bundle (https remotes, alert webhooks)
#   /tmp (1777)                                          HOME: nothing secret lives there
# and the labels org.opencontainers.image.* (revision = HEAD, created = the commit date, source, version),
# rekey.docker-cli and rekey.compose (the versions of the two tools).
#
# Environment:
#   VERSION         main.version (default: `git describe --tags --match 'v[0-9]*' --dirty`, else dev[-dirty])
#   DOCKER_CLI      static docker CLI to copy (default: the first static one of `command -v docker`,
#                   /usr/local/bin/docker, /usr/bin/docker)
#   COMPOSE_PLUGIN  static Compose plugin to copy (default: the first static one in the CLI plugin dirs;
#                   scripts/setup.sh builds one in /usr/local/lib/docker/cli-plugins)
#   CA_BUNDLE       CA certificates to copy (default /etc/ssl/certs/ca-certificates.crt)
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)

log() { printf '%s package: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

tag=rekey:dev
out=$root/bin
image=1
while [ $# -gt 0 ]; do
	case $1 in
	--binary-only) image=0 ;;
	--out)
		[ $# -ge 2 ] || die "--out needs a directory"
		out=$2
		shift
		;;
	--out=*) out=${1#--out=} ;;
	-h | --help)
		sed -n '2,9p' "$0"
		exit 0
		;;
	-*) die "unknown flag $1 (usage: $0 [--binary-only] [--out DIR] [TAG])" ;;
	*) tag=$1 ;;
	esac
	shift
done

command -v go >/dev/null 2>&1 || die "go is not on PATH"
git rev-parse --git-dir >/dev/null 2>&1 || die "$root is not a git work tree: commit and date come from git"

commit=$(git rev-parse HEAD)
epoch=$(git show -s --format=%ct HEAD)
date=$(TZ=UTC git show -s --date=format-local:%Y-%m-%dT%H:%M:%SZ --format=%cd HEAD)
dirty=
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	dirty=-dirty
fi
if [ -z "${VERSION:-}" ]; then
	VERSION=$(git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null) || VERSION=dev$dirty
fi
case $VERSION in
*[!A-Za-z0-9._+-]*) die "VERSION must be made of letters, digits and ._+- (got '$VERSION')" ;;
esac

goos=$(go env GOOS) goarch=$(go env GOARCH) host=$(go env GOHOSTOS)/$(go env GOHOSTARCH)
# The image holds this host's docker CLI and Compose plugin: it is for this host's platform.
if [ $image -eq 1 ] && [ "$goos/$goarch" != "$host" ]; then
	die "the image is for this host's platform ($host, its docker CLI and Compose plugin), not $goos/$goarch: cross-build with --binary-only"
fi

# --- the binary ---------------------------------------------------------------
mkdir -p "$out"
out=$(cd "$out" && pwd)
start=$SECONDS
log "building $out/rekey $VERSION (commit $commit$dirty, $date)"
CGO_ENABLED=0 go build -trimpath \
	-ldflags "-s -w -X main.version=$VERSION -X main.commit=$commit -X main.date=$date" \
	-o "$out/rekey" ./cmd/rekey
if [ "$goos/$goarch" = "$host" ]; then
	log "built $out/rekey in $((SECONDS - start))s ($(wc -c <"$out/rekey") bytes): $("$out/rekey" version)"
else
	log "built $out/rekey for $goos/$goarch in $((SECONDS - start))s ($(wc -c <"$out/rekey") bytes)"
fi
[ $image -eq 1 ] || exit 0

# --- the image ----------------------------------------------------------------
docker info >/dev/null 2>&1 || die "docker is not reachable; run scripts/setup.sh first (or use --binary-only)"

# static FILE: whether FILE is a 64-bit little-endian ELF executable without a program interpreter
# (PT_INTERP, the dynamic loader): it runs in a scratch image.
static() {
	local f=$1 phoff phentsize phnum i
	[ -f "$f" ] && [ -x "$f" ] || return 1
	[ "$(od -An -t x1 -N 6 "$f" | tr -d ' \n')" = 7f454c460201 ] || return 1 # \x7fELF, 64-bit, LE
	phoff=$(od -An -t u8 -j 32 -N 8 "$f" | tr -d ' ')
	phentsize=$(od -An -t u2 -j 54 -N 2 "$f" | tr -d ' ')
	phnum=$(od -An -t u2 -j 56 -N 2 "$f" | tr -d ' ')
	for ((i = 0; i < phnum; i++)); do
		[ "$(od -An -t u4 -j $((phoff + i * phentsize)) -N 4 "$f" | tr -d ' ')" != 3 ] || return 1
	done
}

# first_static CANDIDATE...: prints the first candidate that is a static executable.
first_static() {
	local c
	for c in "$@"; do
		[ -n "$c" ] || continue
		c=$(readlink -f "$c" 2>/dev/null) || continue
		if static "$c"; then
			printf '%s\n' "$c"
			return 0
		fi
	done
	return 1
}

if [ -n "${DOCKER_CLI:-}" ]; then
	static "$DOCKER_CLI" || die "DOCKER_CLI=$DOCKER_CLI is not a static executable"
	docker_cli=$DOCKER_CLI
else
	docker_cli=$(first_static "$(command -v docker)" /usr/local/bin/docker /usr/bin/docker) ||
		die "no statically linked docker CLI found (Debian's docker.io one is dynamic): set DOCKER_CLI"
fi
if [ -n "${COMPOSE_PLUGIN:-}" ]; then
	static "$COMPOSE_PLUGIN" || die "COMPOSE_PLUGIN=$COMPOSE_PLUGIN is not a static executable"
	compose=$COMPOSE_PLUGIN
else
	compose=$(first_static "${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins/docker-compose" \
		/usr/local/lib/docker/cli-plugins/docker-compose /usr/local/libexec/docker/cli-plugins/docker-compose \
		/usr/lib/docker/cli-plugins/docker-compose /usr/libexec/docker/cli-plugins/docker-compose) ||
		die "no statically linked Compose plugin found: run scripts/setup.sh, or set COMPOSE_PLUGIN"
fi
ca=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
[ -s "$ca" ] || die "no CA bundle at $ca: apt-get install ca-certificates, or set CA_BUNDLE"
# The versions, asked of the copies themselves (the compose plugin answers as `docker-compose version`).
docker_version=$("$docker_cli" --version | sed -n 's/^Docker version \([^,]*\),.*/\1/p')
compose_version=$("$compose" version --short 2>/dev/null || true)
[ -n "$docker_version" ] || die "$docker_cli --version did not say its version"
[ -n "$compose_version" ] || die "$compose version --short did not say its version"

ctx=$(mktemp -d /tmp/rekey-package.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
rootfs=$ctx/context/rootfs # the build context is $ctx/context; the build log stays out of it
install -D -m 0755 "$out/rekey" "$rootfs/usr/local/bin/rekey"
install -D -m 0755 "$docker_cli" "$rootfs/usr/local/bin/docker"
install -D -m 0755 "$compose" "$rootfs/usr/local/lib/docker/cli-plugins/docker-compose"
install -D -m 0644 "$ca" "$rootfs/etc/ssl/certs/ca-certificates.crt"
install -d -m 1777 "$rootfs/tmp"
# Same commit, same files, same times: the layer does not depend on when it was built.
find "$rootfs" -exec touch -h -d "@$epoch" {} +

source_url=https://github.com/rekeyhq/rekey
cat >"$ctx/context/Dockerfile" <<EOF
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/local/bin HOME=/tmp
WORKDIR /
ENTRYPOINT ["/usr/local/bin/rekey"]
CMD ["version"]
LABEL org.opencontainers.image.title="rekey" \\
      org.opencontainers.image.description="Rotates secrets on a Docker Compose stack from a SOPS-encrypted Git repository" \\
      org.opencontainers.image.source="$source_url" \\
      org.opencontainers.image.url="$source_url" \\
      org.opencontainers.image.documentation="$source_url/tree/$commit/packaging" \\
      org.opencontainers.image.licenses="BSD-3-Clause" \\
      org.opencontainers.image.version="$VERSION" \\
      org.opencontainers.image.revision="$commit" \\
      org.opencontainers.image.created="$date" \\
      rekey.docker-cli="$docker_version" \\
      rekey.compose="$compose_version"
EOF

start=$SECONDS
log "building image $tag (docker CLI $docker_version from $docker_cli, Compose $compose_version from $compose)"
# The legacy builder: there is no buildx here, and BuildKit would want to pull.
if ! DOCKER_BUILDKIT=0 docker build --quiet -t "$tag" "$ctx/context" >"$ctx/build.log" 2>&1; then
	cat "$ctx/build.log" >&2
	die "docker build of $tag failed"
fi
log "built $tag in $((SECONDS - start))s ($(docker image inspect --format '{{.Id}}, {{.Size}} bytes' "$tag"))"
log "docker run --rm $tag: $(docker run --rm "$tag")"
