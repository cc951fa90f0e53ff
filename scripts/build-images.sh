#!/usr/bin/env bash
# Builds the demo/test images without a registry:
#   rekey-demo/app:dev       FROM scratch + static examples/demo/app (legacy builder)
#   rekey-demo/redis:dev     Redis 7 from Debian bookworm: mmdebstrap | docker import
#   rekey-demo/postgres:dev  PostgreSQL 15 from Debian bookworm, the same way
#   rekey-demo/mariadb:dev   MariaDB 10.11 from Debian bookworm, the same way
#   rekey-demo/smtp:dev      an SMTP relay with AUTH (aiosmtpd) from Debian bookworm, the same way
#   rekey-demo/caddy:dev     Caddy 2.6 from Debian bookworm, the same way (the reference reverse proxy)
#   rekey-demo/swarmnode:dev Docker (docker.io) from Debian bookworm, the same way: a Docker-in-Docker
#                            node of the multi-node test swarm (internal/testenv/swarmnodes.go)
# An image is skipped when it exists and its rekey.source label matches what it
# would be built from now; --force rebuilds regardless.
#
# usage: scripts/build-images.sh [--force] [app] [redis] [postgres] [mariadb] [smtp] [caddy] [swarmnode]   (default: all)
# Environment: DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR (default deb.debian.org).
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)

APP_IMAGE=rekey-demo/app:dev
REDIS_IMAGE=rekey-demo/redis:dev
POSTGRES_IMAGE=rekey-demo/postgres:dev
MARIADB_IMAGE=rekey-demo/mariadb:dev
SMTP_IMAGE=rekey-demo/smtp:dev
CADDY_IMAGE=rekey-demo/caddy:dev
SWARMNODE_IMAGE=rekey-demo/swarmnode:dev
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBIAN_SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

log() { printf '%s build-images: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

force=0
targets=()
for arg in "$@"; do
	case $arg in
	--force | -f) force=1 ;;
	app | redis | postgres | mariadb | smtp | caddy | swarmnode) targets+=("$arg") ;;
	-h | --help)
		sed -n '2,15p' "$0"
		exit 0
		;;
	*) die "unknown argument: $arg (usage: $0 [--force] [app] [redis] [postgres] [mariadb] [smtp] [caddy] [swarmnode])" ;;
	esac
done
[ ${#targets[@]} -gt 0 ] || targets=(app redis postgres mariadb smtp caddy swarmnode)

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

# debian_image IMAGE DIR RECIPE PACKAGES VERSION_CMD: builds IMAGE from Debian
# bookworm (+updates, +security) packages: mmdebstrap | docker import. DIR holds
# the files uploaded into the image; RECIPE names everything else the image is
# built from (bump its version when changing the caller's arguments). Extra
# mmdebstrap options come from the array mm_args, docker import --change values
# from import_changes. VERSION_CMD (a sh command run in the new image) prints
# the server version for the final log line.
debian_image() {
	local image=$1 dir=$2 recipe=$3 packages=$4 version_cmd=$5 hash tmp start status mmlog change
	local changes=()
	command -v mmdebstrap >/dev/null 2>&1 || die "mmdebstrap is missing; run scripts/setup.sh first"
	hash=$( (
		echo "$recipe"
		sha256sum "$dir"/*
	) | sha256sum | cut -c1-32)
	if [ $force -eq 0 ] && up_to_date "$image" "$hash"; then
		log "$image is up to date (rekey.source=$hash); skipping (--force rebuilds)"
		return
	fi
	for change in "${import_changes[@]}" "LABEL rekey.source=$hash"; do
		changes+=(--change "$change")
	done
	start=$SECONDS
	log "building $image from Debian bookworm packages (mirror $DEBIAN_MIRROR)"
	# Import under a temporary tag, so that a failed mmdebstrap (a truncated tar)
	# never replaces a good image.
	tmp="$image-partial-$$"
	mmlog=$(mktemp /tmp/rekey-mmdebstrap.XXXXXX.log)
	set +e
	mmdebstrap --quiet --variant=essential --include="$packages" \
		--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
		--dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-include=/usr/share/doc/*/copyright' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		"${mm_args[@]}" \
		--customize-hook='rm -rf "$1"/var/cache/apt/*.bin "$1"/var/lib/apt/lists/*' \
		--format=tar bookworm - \
		"deb $DEBIAN_MIRROR bookworm main" \
		"deb $DEBIAN_MIRROR bookworm-updates main" \
		"deb $DEBIAN_SECURITY_MIRROR bookworm-security main" 2>"$mmlog" |
		docker import \
			--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
			"${changes[@]}" \
			- "$tmp" >/dev/null
	status=("${PIPESTATUS[@]}")
	set -e
	if [ "${status[0]}" -ne 0 ] || [ "${status[1]}" -ne 0 ]; then
		docker image rm "$tmp" >/dev/null 2>&1 || true
		log "last lines of the mmdebstrap log ($mmlog):"
		tail -n 40 "$mmlog" >&2
		die "building $image failed (mmdebstrap exit ${status[0]}, docker import exit ${status[1]})"
	fi
	rm -f "$mmlog"
	docker tag "$tmp" "$image"
	docker image rm "$tmp" >/dev/null
	log "built $image in $((SECONDS - start))s ($(docker run --rm --entrypoint sh "$image" -c "$version_cmd"), $(docker image inspect --format '{{.Size}}' "$image") bytes)"
}

build_redis() {
	local dir=examples/demo/images/redis
	mm_args=(
		--customize-hook='mkdir -p "$1/data"'
		--customize-hook="upload $dir/entrypoint.sh /usr/local/bin/docker-entrypoint"
		--customize-hook="upload $dir/healthcheck.sh /usr/local/bin/redis-healthcheck"
		--customize-hook='chmod 0755 "$1/usr/local/bin/docker-entrypoint" "$1/usr/local/bin/redis-healthcheck"'
	)
	import_changes=(
		'WORKDIR /data'
		'EXPOSE 6379'
		'ENTRYPOINT ["/usr/local/bin/docker-entrypoint"]'
		'CMD ["redis-server"]'
		'HEALTHCHECK --interval=2s --timeout=2s --retries=5 CMD ["/usr/local/bin/redis-healthcheck"]'
	)
	debian_image "$REDIS_IMAGE" "$dir" "v1 bookworm essential redis-server merged-usr" redis-server \
		"redis-server --version | cut -d' ' -f1-3"
}

build_postgres() {
	local dir=examples/demo/images/postgres
	mm_args=(
		# The JIT provider (LLVM, its z3 dependency, bitcode) is ~150 MB of the
		# image and useless for tests; postgres runs with jit=off. i18n holds
		# locale sources: initdb uses glibc's built-in C.UTF-8.
		--dpkgopt='path-exclude=/usr/lib/*/libLLVM-*'
		--dpkgopt='path-exclude=/usr/lib/*/libz3.so*'
		--dpkgopt='path-exclude=/usr/lib/postgresql/*/lib/llvmjit*'
		--dpkgopt='path-exclude=/usr/lib/postgresql/*/lib/bitcode/*'
		--dpkgopt='path-exclude=/usr/share/i18n/*'
		# The package's postinst creates a "main" cluster; the entrypoint makes
		# its own in PGDATA on first start.
		--customize-hook='rm -rf "$1"/var/lib/postgresql/15 "$1"/etc/postgresql/15'
		--customize-hook='mkdir -p "$1/docker-entrypoint-initdb.d"'
		--customize-hook="upload $dir/entrypoint.sh /usr/local/bin/docker-entrypoint"
		--customize-hook="upload $dir/healthcheck.sh /usr/local/bin/postgres-healthcheck"
		--customize-hook='chmod 0755 "$1/usr/local/bin/docker-entrypoint" "$1/usr/local/bin/postgres-healthcheck"'
	)
	import_changes=(
		# The versioned bin dir first: /usr/bin/psql is a Perl wrapper that
		# looks for Debian-style clusters, which this image does not have.
		'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
		'ENV PGDATA=/var/lib/postgresql/data'
		'VOLUME /var/lib/postgresql/data'
		'EXPOSE 5432'
		'ENTRYPOINT ["/usr/local/bin/docker-entrypoint"]'
		'CMD ["postgres"]'
		# No STOPSIGNAL: docker import cannot set it; use stop_signal: SIGINT.
		'HEALTHCHECK --interval=1s --timeout=3s --start-period=60s --retries=5 CMD ["/usr/local/bin/postgres-healthcheck"]'
	)
	debian_image "$POSTGRES_IMAGE" "$dir" "v1 bookworm essential postgresql-15 merged-usr nojit" postgresql-15 \
		'postgres --version'
}

build_mariadb() {
	local dir=examples/demo/images/mariadb
	mm_args=(
		# The -core packages are the server and client without mariadb-server's
		# Perl tools and systemd glue (309 MB -> ~125 MB); they also create no
		# mysql user. Fixed ids, as in the official image.
		--customize-hook='printf "mysql:x:999:999:MariaDB Server:/nonexistent:/usr/sbin/nologin\n" >>"$1/etc/passwd"'
		--customize-hook='printf "mysql:x:999:\n" >>"$1/etc/group"'
		--customize-hook='mkdir -p "$1/docker-entrypoint-initdb.d"'
		--customize-hook="upload $dir/entrypoint.sh /usr/local/bin/docker-entrypoint"
		--customize-hook="upload $dir/healthcheck.sh /usr/local/bin/mariadb-healthcheck"
		--customize-hook='chmod 0755 "$1/usr/local/bin/docker-entrypoint" "$1/usr/local/bin/mariadb-healthcheck"'
	)
	import_changes=(
		'VOLUME /var/lib/mysql'
		'EXPOSE 3306'
		'ENTRYPOINT ["/usr/local/bin/docker-entrypoint"]'
		'CMD ["mariadbd"]'
		'HEALTHCHECK --interval=1s --timeout=3s --start-period=60s --retries=5 CMD ["/usr/local/bin/mariadb-healthcheck"]'
	)
	debian_image "$MARIADB_IMAGE" "$dir" "v1 bookworm essential mariadb-server-core mariadb-client-core merged-usr" \
		mariadb-server-core,mariadb-client-core 'mariadbd --version'
}

build_smtp() {
	local dir=examples/demo/images/smtp
	mm_args=(
		# python3-aiosmtpd depends on its Sphinx docs' JavaScript and fonts;
		# the server needs neither, nor the package's own tests (removed
		# after install: py3compile fails on path-excluded modules).
		--dpkgopt='path-exclude=/usr/share/javascript/*'
		--dpkgopt='path-exclude=/usr/share/fonts/*'
		--dpkgopt='path-exclude=/usr/share/fonts-font-awesome/*'
		--dpkgopt='path-exclude=/usr/share/sphinx_rtd_theme/*'
		--customize-hook='rm -rf "$1"/usr/lib/python3/dist-packages/aiosmtpd/tests "$1"/usr/lib/python3/dist-packages/aiosmtpd/qa'
		--customize-hook='mkdir -p "$1/etc/smtp/tls"'
		--customize-hook="upload $dir/server.py /usr/local/bin/smtp-relay"
		--customize-hook="upload $dir/healthcheck.py /usr/local/bin/smtp-healthcheck"
		--customize-hook='chmod 0755 "$1/usr/local/bin/smtp-relay" "$1/usr/local/bin/smtp-healthcheck"'
	)
	import_changes=(
		'EXPOSE 587 465'
		# -u: unbuffered, each AUTH line reaches docker logs at once.
		'ENTRYPOINT ["python3", "-u", "/usr/local/bin/smtp-relay"]'
		'HEALTHCHECK --interval=1s --timeout=3s --start-period=30s --retries=5 CMD ["python3", "/usr/local/bin/smtp-healthcheck"]'
	)
	debian_image "$SMTP_IMAGE" "$dir" "v1 bookworm essential python3-aiosmtpd merged-usr nodocs" python3-aiosmtpd \
		'python3 -c "import aiosmtpd; print(\"aiosmtpd\", aiosmtpd.__version__)"'
}

build_caddy() {
	local dir=examples/demo/images/caddy
	mm_args=(
		# Caddy keeps its state under XDG dirs; with auto_https and the admin API off it writes little.
		--customize-hook='mkdir -p "$1/etc/caddy" "$1/data" "$1/config"'
		--customize-hook="upload $dir/Caddyfile /etc/caddy/Caddyfile"
	)
	import_changes=(
		'ENV XDG_DATA_HOME=/data'
		'ENV XDG_CONFIG_HOME=/config'
		'EXPOSE 80'
		'ENTRYPOINT ["caddy"]'
		'CMD ["run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]'
	)
	# passwd: the package's postinst creates a caddy user with groupadd/useradd.
	debian_image "$CADDY_IMAGE" "$dir" "v1 bookworm essential caddy passwd merged-usr" caddy,passwd 'caddy version'
}

build_swarmnode() {
	local dir=examples/demo/images/swarmnode
	mm_args=(
		--customize-hook="upload $dir/entrypoint.sh /usr/local/bin/swarmnode-entrypoint"
		--customize-hook='chmod 0755 "$1/usr/local/bin/swarmnode-entrypoint"'
	)
	import_changes=(
		'VOLUME /var/lib/docker'
		'EXPOSE 2375 2377'
		'ENTRYPOINT ["/usr/local/bin/swarmnode-entrypoint"]'
	)
	debian_image "$SWARMNODE_IMAGE" "$dir" "v1 bookworm essential docker.io iptables ca-certificates procps merged-usr" \
		docker.io,iptables,ca-certificates,procps 'dockerd --version'
}

total=$SECONDS
for target in "${targets[@]}"; do
	"build_$target"
done
log "done in $((SECONDS - total))s"
