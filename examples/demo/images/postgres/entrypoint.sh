#!/bin/sh
# Entry point of rekey-demo/postgres:dev, a demo/test image (not for production).
#
# On first start (no $PGDATA/PG_VERSION) it creates the cluster, sets the
# password of the superuser postgres from POSTGRES_PASSWORD (or the file named
# by POSTGRES_PASSWORD_FILE), creates POSTGRES_USER / POSTGRES_DB if given (a
# login role with the same password, owning the database; unlike the official
# image's, not a superuser: postgres is the admin), and runs
# /docker-entrypoint-initdb.d/*.sql and *.sh. Then postgres runs in the
# foreground as PID 1, as the OS user postgres, logging to stderr.
#
# Auth: local (unix socket) connections use peer auth, with root mapped to
# the postgres role so `docker exec <ctr> psql -U postgres` works; TCP
# connections need a SCRAM password. Options given to the container are passed
# to postgres:  docker run rekey-demo/postgres:dev -c log_statement=all
#
# Stop it with SIGINT (compose: stop_signal: SIGINT): postgres treats SIGTERM
# as "smart" shutdown, which waits for clients and ends in docker's SIGKILL.
set -eu

PGDATA=${PGDATA:-/var/lib/postgresql/data}
export PGDATA
# Healthcheck sees this while the cluster is being set up: the temporary
# server answers on the socket, but must not be reported healthy.
initmark=/run/postgresql/.initializing
# In PGDATA until the first start completes: a restart after a failed first
# start must not serve a half set-up cluster.
incomplete=.entrypoint-init-incomplete

log() { printf 'entrypoint: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# as_postgres CMD...: run CMD as the postgres OS user (setpriv execs directly,
# unlike runuser/su, which fork and keep a PAM session around).
as_postgres() {
	HOME=/var/lib/postgresql setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
}

# file_env VAR: set VAR from VAR or from the file named by VAR_FILE (docker
# secrets). The value is never printed and never put on a command line.
file_env() {
	eval "fe_val=\${$1:-}" "fe_file=\${${1}_FILE:-}"
	if [ -n "$fe_file" ]; then
		[ -z "$fe_val" ] || die "both $1 and ${1}_FILE are set"
		[ -r "$fe_file" ] || die "${1}_FILE=$fe_file is not readable"
		fe_val=$(cat "$fe_file") # strips trailing newlines, as secret files usually end with one
	fi
	eval "$1=\$fe_val"
	unset fe_val fe_file
}

init_cluster() {
	file_env POSTGRES_PASSWORD
	POSTGRES_USER=${POSTGRES_USER:-}
	# Like the official image: the database defaults to the user's name.
	POSTGRES_DB=${POSTGRES_DB:-${POSTGRES_USER:-postgres}}
	[ -n "$POSTGRES_PASSWORD" ] ||
		log "warning: POSTGRES_PASSWORD is empty: no role can log in over TCP until a password is set"

	log "initialising $PGDATA"
	: >"$initmark"
	as_postgres initdb --pgdata="$PGDATA" --username=postgres --encoding=UTF8 --locale=C.UTF-8 \
		--auth-local=peer --auth-host=scram-sha-256 >/dev/null
	: >"$PGDATA/$incomplete"
	# initdb's own pg_hba only allows TCP from loopback; containers connect
	# from the network. Root is mapped to postgres for `docker exec` convenience
	# (root in the container can become postgres anyway).
	cat >"$PGDATA/pg_hba.conf" <<-'HBA'
		# TYPE  DATABASE  USER  ADDRESS  METHOD
		local   all       all            peer map=local
		host    all       all   all      scram-sha-256
	HBA
	cat >"$PGDATA/pg_ident.conf" <<-'IDENT'
		# MAPNAME  SYSTEM-USERNAME  PG-USERNAME
		local      root             postgres
		local      /^(.*)$          \1
	IDENT
	chown postgres:postgres "$PGDATA/pg_hba.conf" "$PGDATA/pg_ident.conf"

	# A temporary server on the socket only. log_min_error_statement=panic:
	# a failing statement must not land in the log with a password in it.
	as_postgres pg_ctl --pgdata="$PGDATA" --wait --timeout=60 --silent \
		-o "-c listen_addresses='' -c log_min_error_statement=panic -c password_encryption=scram-sha-256" start

	# The password travels in psql's environment (\getenv, psql >= 15) and
	# psql quotes it (:'pw'); it never appears on a command line.
	{
		if [ -n "$POSTGRES_PASSWORD" ]; then
			printf '%s\n' '\getenv pw POSTGRES_PASSWORD' "ALTER ROLE postgres PASSWORD :'pw';"
		fi
		if [ -n "$POSTGRES_USER" ] && [ "$POSTGRES_USER" != postgres ]; then
			printf '%s\n' '\getenv user POSTGRES_USER' 'CREATE ROLE :"user" LOGIN;'
			[ -z "$POSTGRES_PASSWORD" ] || printf '%s\n' "ALTER ROLE :\"user\" PASSWORD :'pw';"
		fi
		if [ "$POSTGRES_DB" != postgres ]; then
			printf '%s\n' '\getenv db POSTGRES_DB' '\getenv owner POSTGRES_OWNER' 'CREATE DATABASE :"db" OWNER :"owner";'
		fi
	} | (
		POSTGRES_OWNER=${POSTGRES_USER:-postgres}
		export POSTGRES_PASSWORD POSTGRES_USER POSTGRES_DB POSTGRES_OWNER
		as_postgres psql -X -q -v ON_ERROR_STOP=1 --no-password --username=postgres --dbname=postgres
	)

	# Init scripts: *.sql through psql's stdin (so postgres need not be able
	# to read them), *.sh with sh as root, pointed at the new database.
	for f in /docker-entrypoint-initdb.d/*; do
		case $f in
		*.sql)
			log "running $f"
			as_postgres psql -X -q -v ON_ERROR_STOP=1 --no-password --username=postgres --dbname="$POSTGRES_DB" <"$f"
			;;
		*.sh)
			log "running $f"
			PGUSER=postgres PGDATABASE=$POSTGRES_DB sh "$f"
			;;
		*/\*) ;; # no init scripts
		*) log "ignoring $f" ;;
		esac
	done

	as_postgres pg_ctl --pgdata="$PGDATA" --mode=fast --wait --silent stop
	rm -f "$initmark" "$PGDATA/$incomplete"
	log "initialised $PGDATA"
}

if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
	set -- postgres "$@"
fi
if [ "$1" != postgres ]; then
	exec "$@"
fi
shift

[ "$(id -u)" = 0 ] || die "start the container as root; it drops to the postgres user itself"
# mmdebstrap empties /run, and a new volume for PGDATA is owned by root.
mkdir -p /run/postgresql "$PGDATA"
chown postgres:postgres /run/postgresql "$PGDATA"
chmod 2775 /run/postgresql
chmod 0700 "$PGDATA"
rm -f "$initmark" # left over when a previous first start failed
[ ! -e "$PGDATA/$incomplete" ] ||
	die "the first start did not complete (see its log); remove the data volume to start over"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
	init_cluster
fi
unset POSTGRES_PASSWORD POSTGRES_PASSWORD_FILE

# jit=off: the image leaves out LLVM (the JIT provider) to save ~150 MB.
set -- postgres -c 'listen_addresses=*' -c password_encryption=scram-sha-256 \
	-c log_connections=on -c jit=off "$@"
exec setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
