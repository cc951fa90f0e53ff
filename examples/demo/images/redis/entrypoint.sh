#!/bin/sh
# Entry point of rekey-demo/redis:dev, a demo/test image (not for production).
# Runs redis-server in the foreground as PID 1, reachable from other
# containers (bind 0.0.0.0, protected mode off: the demo network is private),
# data in /data. Options given to the container are passed to redis-server:
#   docker run rekey-demo/redis:dev --appendonly yes
# REDIS_PASSWORD (or REDIS_PASSWORD_FILE) sets requirepass, the password of the
# default user. It reaches redis-server as a config file on stdin, never in
# argv (ps would show it): every byte as \xHH inside double quotes, which the
# config parser decodes, so no value can break out of the quotes.
set -e
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
	set -- redis-server "$@"
fi
if [ "$1" != redis-server ]; then
	exec "$@"
fi
shift
conf=
if [ "$#" -gt 0 ] && [ "${1#-}" = "$1" ]; then
	conf=$1 # redis-server wants the config file before any option
	shift
fi
if [ -n "${REDIS_PASSWORD_FILE:-}" ]; then
	REDIS_PASSWORD=$(cat "$REDIS_PASSWORD_FILE")
fi
if [ -z "${REDIS_PASSWORD:-}" ]; then
	exec redis-server ${conf:+"$conf"} --daemonize no --bind 0.0.0.0 --protected-mode no --dir /data "$@"
fi
quoted=$(printf '%s' "$REDIS_PASSWORD" | od -An -v -tx1 | tr -d ' \n' | sed 's/../\\x&/g')
unset REDIS_PASSWORD
if [ -n "$conf" ]; then
	# "-" must come first; include the given file from the stdin config instead.
	exec redis-server - --daemonize no --bind 0.0.0.0 --protected-mode no --dir /data "$@" <<EOC
include "$conf"
requirepass "$quoted"
EOC
fi
exec redis-server - --daemonize no --bind 0.0.0.0 --protected-mode no --dir /data "$@" <<EOC
requirepass "$quoted"
EOC
