#!/bin/sh
# Entry point of rekey-demo/redis:dev, a demo/test image (not for production).
# Runs redis-server in the foreground as PID 1, reachable from other
# containers (bind 0.0.0.0, protected mode off: the demo network is private),
# data in /data. Options given to the container are passed to redis-server:
#   docker run rekey-demo/redis:dev --appendonly yes
set -e
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
	set -- redis-server "$@"
fi
if [ "$1" = redis-server ]; then
	shift
	conf=
	if [ "$#" -gt 0 ] && [ "${1#-}" = "$1" ]; then
		conf=$1 # redis-server wants the config file before any option
		shift
	fi
	set -- redis-server ${conf:+"$conf"} --daemonize no --bind 0.0.0.0 --protected-mode no --dir /data "$@"
fi
exec "$@"
