#!/bin/sh
# Healthcheck of rekey-demo/redis:dev: healthy when the server answers, with
# PONG, or with NOAUTH when a password is set. The check never logs in: a
# healthcheck holding a password would fail (and count as an authentication
# failure) the moment that password is rotated.
reply=$(redis-cli -h 127.0.0.1 -p "${REDIS_PORT:-6379}" ping 2>&1)
case $reply in
PONG | NOAUTH*) exit 0 ;;
esac
exit 1
