// Package dockerio holds the Docker and Compose side effects rekey needs:
// listing the containers of a compose service, restarting them, waiting for
// them to become healthy, exec with secret values on stdin, scanning logs,
// reading a container's environment and mounted files (all through the Docker
// Engine API), and recreating services through the Compose CLI, which computes
// the config hashes so that a later `docker compose up -d` recreates nothing.
//
// Nothing in this package reads the process environment: the Docker host is
// passed with [WithHost] and the Compose CLI runs with exactly the environment
// in [Compose.Env]. No error carries probe output, log lines or a value from
// a container's environment; Compose output in errors goes through a
// caller-supplied redaction function.
package dockerio
