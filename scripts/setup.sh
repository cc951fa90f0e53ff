#!/usr/bin/env bash
# Prepares a Debian 12 machine (as root, with Go installed) for rekey's tests:
#   - apt packages: docker.io, mmdebstrap (and helpers), installed only if missing;
#   - dockerd, started in the background if `docker info` fails (log: $DOCKERD_LOG);
#   - the Compose CLI plugin v5, built from source if `docker compose version` fails.
# Idempotent: a second run only checks. Environment knobs:
#   DOCKERD_LOG            dockerd's log file (default /var/log/rekey-dockerd.log)
#   DOCKERD_TIMEOUT        seconds to wait for dockerd (default 60)
#   COMPOSE_MODULE         module to build the plugin from (default github.com/docker/compose/v5)
#   COMPOSE_VERSION        its version (default v5.6.0)
#   COMPOSE_PLUGIN         where to install it (default /usr/local/lib/docker/cli-plugins/docker-compose)
set -euo pipefail

DOCKERD_LOG=${DOCKERD_LOG:-/var/log/rekey-dockerd.log}
DOCKERD_TIMEOUT=${DOCKERD_TIMEOUT:-60}
COMPOSE_MODULE=${COMPOSE_MODULE:-github.com/docker/compose/v5}
COMPOSE_VERSION=${COMPOSE_VERSION:-v5.6.0}
COMPOSE_PLUGIN=${COMPOSE_PLUGIN:-/usr/local/lib/docker/cli-plugins/docker-compose}

log() { printf '%s setup: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

SUDO=
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || die "run as root (or install sudo)"
	SUDO=sudo
fi

# --- apt packages -----------------------------------------------------------
# command -> package providing it
declare -A want=(
	[dockerd]=docker.io
	[mmdebstrap]=mmdebstrap
	[git]=git
	[gpg]=gnupg             # signed-commit tests
	[ssh-keygen]=openssh-client
	[chattr]=e2fsprogs      # the unwritable-source e2e case
	[chromium]=chromium     # the status page rendered in a real browser (statuspage.TestBrowser)
	[zsh]=zsh               # completion scripts run in the real shells
	[fish]=fish
	[dot]=graphviz          # inventory's DOT output checked by graphviz itself
	[systemd-analyze]=systemd # the packaged unit checked by systemd's own tools (e2e TestSystemdUnit)
)
missing=()
for cmd in "${!want[@]}"; do
	command -v "$cmd" >/dev/null 2>&1 || missing+=("${want[$cmd]}")
done
# Keyring for mmdebstrap to verify bookworm, CA certificates, pgrep, uidmap (mmdebstrap unshare mode).
for pkg in debian-archive-keyring ca-certificates procps uidmap; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
	log "installing apt packages: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -q
	$SUDO apt-get install -y -q "${missing[@]}"
else
	log "apt packages present ($(printf '%s\n' "${want[@]}" | sort | paste -sd' '))"
fi
command -v docker >/dev/null 2>&1 || die "no docker CLI on PATH after installing docker.io"

# --- dockerd ----------------------------------------------------------------
if docker info >/dev/null 2>&1; then
	log "dockerd is running ($(docker version --format 'server {{.Server.Version}}, API {{.Server.APIVersion}}' 2>/dev/null))"
else
	if pgrep -x dockerd >/dev/null 2>&1; then
		log "dockerd process exists but does not answer yet; waiting"
	else
		# Prefer the init system when there is one (a normal VM); else start it by hand (containers, CI sandboxes).
		if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
			log "starting docker via systemctl"
			$SUDO systemctl start docker || log "systemctl start docker failed; starting dockerd by hand"
		fi
		if ! pgrep -x dockerd >/dev/null 2>&1; then
			log "starting dockerd in the background (log: $DOCKERD_LOG)"
			$SUDO mkdir -p "$(dirname "$DOCKERD_LOG")"
			# setsid: not a child of this script's session, so it survives the CI step.
			$SUDO setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
		fi
	fi
	deadline=$((SECONDS + DOCKERD_TIMEOUT))
	until docker info >/dev/null 2>&1; do
		if [ $SECONDS -ge $deadline ]; then
			log "last lines of $DOCKERD_LOG:"
			tail -n 30 "$DOCKERD_LOG" >&2 2>/dev/null || true
			die "dockerd did not become ready within ${DOCKERD_TIMEOUT}s (see $DOCKERD_LOG)"
		fi
		sleep 0.5
	done
	log "dockerd is ready ($(docker version --format 'server {{.Server.Version}}, API {{.Server.APIVersion}}'))"
fi

# --- Compose CLI plugin -----------------------------------------------------
if docker compose version >/dev/null 2>&1; then
	log "compose plugin present ($(docker compose version 2>&1 | head -n1))"
else
	command -v go >/dev/null 2>&1 || die "go is needed to build the compose plugin"
	log "building compose plugin from $COMPOSE_MODULE@$COMPOSE_VERSION (takes ~1.5 min cold)"
	start=$SECONDS
	# `go install mod@version` refuses modules with exclude directives, so build
	# inside a writable copy of the module directory, with its own go.mod.
	moddir=$(cd / && GOFLAGS= go mod download -json "$COMPOSE_MODULE@$COMPOSE_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
	[ -n "$moddir" ] && [ -d "$moddir" ] || die "go mod download $COMPOSE_MODULE@$COMPOSE_VERSION gave no module directory"
	work=$(mktemp -d /tmp/rekey-compose.XXXXXX)
	trap 'rm -rf "$work"' EXIT
	cp -a "$moddir/." "$work/src"
	chmod -R u+w "$work/src"
	(cd "$work/src" && CGO_ENABLED=0 GOFLAGS=-mod=mod GOWORK=off go build -trimpath \
		-ldflags "-s -w -X $COMPOSE_MODULE/internal.Version=$COMPOSE_VERSION" \
		-o "$work/docker-compose" ./cmd) || die "building the compose plugin failed"
	$SUDO install -D -m 0755 "$work/docker-compose" "$COMPOSE_PLUGIN"
	rm -rf "$work"
	trap - EXIT
	docker compose version >/dev/null 2>&1 || die "docker compose still fails after installing $COMPOSE_PLUGIN"
	log "installed $COMPOSE_PLUGIN in $((SECONDS - start))s ($(docker compose version | head -n1))"
fi

# --- sops CLI ---------------------------------------------------------------
# rekey never runs sops (it uses the library), but the runbook it writes tells a human to, and a test runs
# those commands. Same version as the library in go.mod.
if command -v sops >/dev/null 2>&1; then
	log "sops present"
else
	sops_version=$(cd "$(dirname "$0")/.." && go list -m -f '{{.Version}}' github.com/getsops/sops/v3)
	log "installing sops $sops_version from source"
	(cd / && GOFLAGS= GOBIN=/usr/local/bin go install "github.com/getsops/sops/v3/cmd/sops@$sops_version") ||
		die "installing sops failed"
fi

log "done"
