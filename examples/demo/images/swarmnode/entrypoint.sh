#!/bin/sh
# A Docker-in-Docker node of a test swarm (internal/testenv/swarmnodes.go). dockerd listens on its socket
# and on TCP 2375 without TLS: the test publishes that port on the host's loopback only, for the manager.
# Its containers go in a cgroup of their own, named after the node (the host's cgroup tree is shared:
# --cgroupns host). /var/lib/docker is a tmpfs (overlay on the host's overlay does not work).
set -eu
node=${NODE_NAME:-$(hostname)}
exec dockerd --cgroup-parent="/$node" -H unix:///var/run/docker.sock -H tcp://0.0.0.0:2375 "$@"
