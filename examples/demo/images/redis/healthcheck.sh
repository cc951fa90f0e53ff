#!/bin/sh
# Healthcheck of rekey-demo/redis:dev: healthy only when PING answers PONG
# (redis-cli exits 0 on error replies such as NOAUTH, so compare the output).
# With a password set, pass it as REDISCLI_AUTH in the container environment.
[ "$(redis-cli -h 127.0.0.1 -p "${REDIS_PORT:-6379}" ping 2>&1)" = PONG ]
