#!/bin/sh
# Entry point of rekey-demo/mariadb:dev, a demo/test image (not for production).
#
# On first start (no /var/lib/mysql/mysql) it creates the system tables, drops
# every account mariadb-install-db made except root@localhost (and the locked
# mariadb.sys), lets root@localhost in via unix_socket (OS root) or the
# password MARIADB_ROOT_PASSWORD (or the file named by
# MARIADB_ROOT_PASSWORD_FILE), creates MARIADB_DATABASE and
# MARIADB_USER@'%' with MARIADB_PASSWORD(_FILE) and ALL on that database, and
# runs /docker-entrypoint-initdb.d/*.sql and *.sh. Then mariadbd runs in the
# foreground as PID 1 (it drops to the mysql user itself), logging to stderr,
# including "Access denied" for failed logins.
#
# Options given to the container are passed to mariadbd:
#   docker run rekey-demo/mariadb:dev --max-connections=50
set -eu

datadir=/var/lib/mysql
# Healthcheck sees this while the server is being set up: the temporary
# server answers on the socket, but must not be reported healthy.
initmark=/run/mysqld/.initializing
# In the datadir until the first start completes: a restart after a failed
# first start must not serve half set-up (passwordless) accounts.
incomplete=.entrypoint-init-incomplete

log() { printf 'entrypoint: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

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

# sql_str VALUE: VALUE as a quoted SQL string literal. MariaDB treats
# backslash as an escape character inside quotes, so double it as well as '.
# printf, not echo: dash's echo interprets backslashes.
sql_str() {
	printf "'%s'" "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/''/g")"
}

# sql_ident NAME: NAME as a quoted identifier (database names).
sql_ident() {
	printf '`%s`' "$(printf '%s' "$1" | sed -e 's/`/``/g')"
}

# The SQL run once on the temporary server. It goes to the client's stdin.
init_sql() {
	# mariadb-install-db leaves passwordless root@127.0.0.1, root@::1,
	# root@<hostname> and anonymous accounts (and proxy grants for them).
	cat <<-'SQL'
		DELETE FROM mysql.global_priv WHERE NOT (User = 'root' AND Host = 'localhost') AND User <> 'mariadb.sys';
		DELETE FROM mysql.proxies_priv WHERE NOT (User = 'root' AND Host = 'localhost');
		DELETE FROM mysql.db WHERE User = '';
		FLUSH PRIVILEGES;
	SQL
	if [ -n "$MARIADB_ROOT_PASSWORD" ]; then
		printf 'ALTER USER root@localhost IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD(%s);\n' \
			"$(sql_str "$MARIADB_ROOT_PASSWORD")"
	else
		printf 'ALTER USER root@localhost IDENTIFIED VIA unix_socket;\n'
	fi
	if [ -n "$MARIADB_DATABASE" ]; then
		printf 'CREATE DATABASE IF NOT EXISTS %s;\n' "$(sql_ident "$MARIADB_DATABASE")"
	fi
	if [ -n "$MARIADB_USER" ]; then
		printf 'CREATE USER %s@%s IDENTIFIED BY %s;\n' \
			"$(sql_str "$MARIADB_USER")" "'%'" "$(sql_str "$MARIADB_PASSWORD")"
		if [ -n "$MARIADB_DATABASE" ]; then
			printf 'GRANT ALL ON %s.* TO %s@%s;\n' \
				"$(sql_ident "$MARIADB_DATABASE")" "$(sql_str "$MARIADB_USER")" "'%'"
		fi
	fi
}

init_datadir() {
	file_env MARIADB_ROOT_PASSWORD
	file_env MARIADB_PASSWORD
	MARIADB_USER=${MARIADB_USER:-}
	MARIADB_DATABASE=${MARIADB_DATABASE:-}
	[ -z "$MARIADB_USER" ] || [ -n "$MARIADB_PASSWORD" ] || die "MARIADB_USER is set but MARIADB_PASSWORD is empty"
	[ "$MARIADB_USER" != root ] || die "MARIADB_USER=root: use MARIADB_ROOT_PASSWORD"

	log "initialising $datadir"
	: >"$initmark"
	: >"$datadir/$incomplete"
	# install-db's chatter (how to secure the server) does not apply here;
	# show it only when it fails.
	out=$(mktemp)
	if ! mariadb-install-db --user=mysql --datadir="$datadir" --auth-root-authentication-method=normal \
		--skip-test-db --skip-name-resolve >"$out" 2>&1; then
		cat "$out" >&2
		die "mariadb-install-db failed"
	fi
	rm -f "$out"

	# A temporary server on the socket only.
	mariadbd --user=mysql --datadir="$datadir" --skip-networking --log-warnings=1 &
	pid=$!
	i=0
	until mariadb --protocol=socket -uroot -e 'SELECT 1' >/dev/null 2>&1; do
		kill -0 "$pid" 2>/dev/null || die "the temporary mariadbd exited"
		i=$((i + 1))
		[ "$i" -lt 300 ] || die "the temporary mariadbd did not start within 30s"
		sleep 0.1
	done

	init_sql | mariadb --protocol=socket -uroot --batch mysql

	# Init scripts: *.sql through the client's stdin, *.sh with sh as root
	# (OS root logs in as root@localhost over the socket).
	for f in /docker-entrypoint-initdb.d/*; do
		case $f in
		*.sql)
			log "running $f"
			mariadb --protocol=socket -uroot --batch ${MARIADB_DATABASE:+"--database=$MARIADB_DATABASE"} <"$f"
			;;
		*.sh)
			log "running $f"
			sh "$f"
			;;
		*/\*) ;; # no init scripts
		*) log "ignoring $f" ;;
		esac
	done

	kill "$pid"
	wait "$pid" || die "the temporary mariadbd did not shut down cleanly"
	rm -f "$initmark" "$datadir/$incomplete"
	log "initialised $datadir"
}

if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
	set -- mariadbd "$@"
fi
if [ "$1" != mariadbd ]; then
	exec "$@"
fi
shift

[ "$(id -u)" = 0 ] || die "start the container as root; mariadbd drops to the mysql user itself"
rm -f "$initmark" # left over when a previous first start failed
# mmdebstrap empties /run, and a new volume for the datadir is owned by root.
mkdir -p /run/mysqld "$datadir"
chown mysql:mysql /run/mysqld "$datadir"
[ ! -e "$datadir/$incomplete" ] ||
	die "the first start did not complete (see its log); remove the data volume to start over"
if [ ! -d "$datadir/mysql" ]; then
	init_datadir
fi
unset MARIADB_ROOT_PASSWORD MARIADB_ROOT_PASSWORD_FILE MARIADB_PASSWORD MARIADB_PASSWORD_FILE

# log-warnings=2: failed logins ("Access denied for user ...") reach the
# error log, which is stderr here. skip-name-resolve: accounts and log lines
# use client IPs, and connecting never waits for reverse DNS.
exec mariadbd --user=mysql --datadir="$datadir" --bind-address=0.0.0.0 --port=3306 \
	--skip-name-resolve --log-warnings=2 "$@"
