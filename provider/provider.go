// Package provider holds what every credential server driver shares: the Provider a driver implements
// (one per configured server), and Exec, the way drivers reach a server inside its compose service
// container without exposing it on the network. Drivers live in sub-packages, one per engine; one
// conformance suite (providertest) runs against each on its real server.
package provider

import (
	"context"
	"errors"

	"github.com/rekeyhq/rekey/reconcile"
)

// Provider is a driver: it manages one login's credential on one server, with a window in which the old
// and the new value both work. The rotation's seam is reconcile.Credential, declared by the executor that
// consumes it; a Provider is that and a description of its mechanism. Drivers without overlap also
// implement reconcile.Swapper, and drivers that can tell whether a value still logs in implement
// reconcile.Prober. Revoke wraps reconcile.ErrRevokeByHand for a credential only its operator can revoke.
type Provider interface {
	reconcile.Credential
	// Mechanism says how old and new values overlap, for plans and docs.
	Mechanism() string
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
