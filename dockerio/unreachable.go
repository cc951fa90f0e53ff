package dockerio

import (
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/docker/docker/client"
)

// UnreachableError says the Docker engine did not answer (its socket is missing, refuses connections, or
// the connection broke): the engine is away, maybe restarting, and the same call may succeed once it is
// back. It implements Retryable (reconcile.Retryable), so a rollback waits for the engine instead of
// giving up.
type UnreachableError struct{ Err error }

func (e *UnreachableError) Error() string { return e.Err.Error() }
func (e *UnreachableError) Unwrap() error { return e.Err }

// Retryable says the call is worth repeating once the engine is back.
func (e *UnreachableError) Retryable() bool { return true }

// IsUnreachable reports whether err says the engine did not answer.
func IsUnreachable(err error) bool {
	var u *UnreachableError
	return errors.As(err, &u)
}

// unreachable marks err as an UnreachableError when it is one: a failed connection to the engine's
// socket, or a connection that broke under the call.
func unreachable(err error) error {
	if err == nil || IsUnreachable(err) || !engineAway(err) {
		return err
	}
	return &UnreachableError{Err: err}
}

func engineAway(err error) bool {
	if client.IsErrConnectionFailed(err) {
		return true
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true // the socket is not there (ENOENT) or not listening
	}
	return errors.Is(err, io.ErrUnexpectedEOF) // the engine went away while answering
}

// composeAwayMarkers are what the Compose CLI prints when it cannot reach the engine.
var composeAwayMarkers = []string{
	"failed to connect to the docker API",
	"Cannot connect to the Docker daemon",
	"Is the docker daemon running",
	"error during connect",
}

// composeUnreachable marks err (a failed compose run) as an UnreachableError when its output says the
// engine did not answer.
func composeUnreachable(err error, output string) error {
	for _, m := range composeAwayMarkers {
		if strings.Contains(output, m) {
			return &UnreachableError{Err: err}
		}
	}
	return err
}
