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

// ErrRejected marks a login the server refused: the value is not (or no longer) valid.
var ErrRejected = errors.New("login rejected")

// ErrRevokeByHand is what Revoke returns for credentials rekey cannot revoke itself (an SMTP relay's or a
// third-party API's key, created and revoked in the provider's dashboard): the rotation completes, and the
// old value becomes a pending revocation that rekey keeps checking until it stops working.
var ErrRevokeByHand = errors.New("the old credential must be revoked at the provider")

// Swapper is implemented by drivers of credentials without overlap (one password per login): Swap makes
// the server accept next instead of current in one step. Other drivers swap with Stage then Revoke.
type Swapper interface {
	Swap(ctx context.Context, current, next string) error
}

// Prober is implemented by drivers that can tell whether a value still logs in, without changing
// anything: how pending revocations are followed. It returns (false, nil) when the server rejects the
// value, and an error when it cannot tell.
type Prober interface {
	Accepts(ctx context.Context, value string) (bool, error)
}
