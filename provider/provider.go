// Package provider holds what every credential server driver shares: the Provider a driver implements
// (one per configured server), and Exec, the way drivers reach a server inside its compose service
// container without exposing it on the network. Drivers live in sub-packages, one per engine; one
// conformance suite (providertest) runs against each on its real server.
package provider

import (
	"context"
	"errors"
)

// Provider manages one login's credential on one server, with a window in which the old and the new
// value both work. Every method is idempotent, never puts a value in argv, logs or errors, and fails
// before changing anything when it cannot do all of its work.
type Provider interface {
	// Mechanism says how old and new values overlap, for plans and docs.
	Mechanism() string
	// Check confirms the server is reachable and supported, rekey's admin access may change the login,
	// and current logs in.
	Check(ctx context.Context, current string) error
	// Stage makes the server accept next as well as current. Drivers that alternate between two logins
	// return the login next is valid for; others return "".
	Stage(ctx context.Context, current, next string) (login string, err error)
	// Verify confirms next logs in.
	Verify(ctx context.Context, next string) error
	// Drain waits until no session uses another value than next.
	Drain(ctx context.Context, next string) error
	// Revoke makes the server accept next only.
	Revoke(ctx context.Context, next string) error
	// Unstage makes the server accept current only; next is "" when unknown.
	Unstage(ctx context.Context, current, next string) error
}

// Exec runs a command inside the server's container and returns its exit code and output (stdout then
// stderr). Secret values travel in stdin only.
type Exec interface {
	Exec(ctx context.Context, cmd []string, stdin []byte) (code int, out []byte, err error)
}

// ErrUnreachable marks errors where the server or its container could not be reached at all.
var ErrUnreachable = errors.New("server unreachable")
