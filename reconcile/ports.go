package reconcile

import (
	"context"
	"errors"
	"time"
)

// The executor's seams. Adapters at the edge implement them; each is as small as the executor needs.
// They come in four groups:
//   - the runtime (Runtime): the stack a transaction changes — read and write sources, roll, stop and
//     list consumers, wait for health, run checks;
//   - the credential servers (Credentials, Credential, Swapper, Prober);
//   - rekey's own state (Stash, Journal);
//   - what Apply reads before it plans (Observer).

// Runtime is the stack a transaction changes, as the transaction sees it: where values live (read and
// write sources), how consumers pick them up (roll; a Roller may also stop consumers and list their
// containers), when they are ready (health) and how a change is checked (verify: exec in a consumer, its
// logs, HTTP). The transaction knows nothing else of the stack. A Compose project on one Docker host is
// one implementation (package live: Files, Stack and Checks, asserted as live.Compose); another way to
// run consumers (Docker Swarm services, start-first rolls) implements the same interfaces and is set in
// the Executor's Reader, Writer, Roller, Health and Verifier without a change to the transaction, with an
// Observer that reads the same sources and consumers.
type Runtime interface {
	ValueReader
	ValueWriter
	Roller
	HealthGate
	Verifier
}

// ValueReader reads the value at a location ("" when missing).
type ValueReader interface {
	ReadValue(ctx context.Context, l Location) (string, error)
}

// ValueWriter writes a value to a location in place.
type ValueWriter interface {
	WriteValue(ctx context.Context, l Location, value string) error
}

// Stash keeps, encrypted, the values a transaction is about to replace, so that a rollback can put them
// back location by location. Save replaces any earlier data of the same transaction; Drop forgets it
// once the transaction has ended, so old values do not outlive their rotation.
type Stash interface {
	Save(ctx context.Context, txn string, data []byte) error
	Load(ctx context.Context, txn string) ([]byte, error)
	Drop(ctx context.Context, txn string) error
}

// Roller makes a consumer pick up the values now in its sources.
type Roller interface {
	Roll(ctx context.Context, c Consumer) error
}

// Stopper is optionally implemented by a Roller: stops a consumer until its next Roll (the swap strategy
// stops consumers while a credential without overlap changes).
type Stopper interface {
	Stop(ctx context.Context, consumer string) error
}

// ContainerLister is optionally implemented by a Roller: the containers a consumer runs as, journaled
// with each roll for the audit trail.
type ContainerLister interface {
	Containers(ctx context.Context, consumer string) ([]string, error)
}

// HealthGate waits until a consumer is healthy.
type HealthGate interface {
	WaitHealthy(ctx context.Context, consumer string) error
}

// Verifier runs one check. Scope says which consumers rolled in this transaction, and since when.
type Verifier interface {
	Verify(ctx context.Context, c Check, scope Scope) error
}

// Scope is what a check may look at.
type Scope struct {
	Consumers []string  // consumers rolled so far in this transaction, in order
	Since     time.Time // when the transaction started
}

// Journal records intent before each side effect and outcome after it. Record must be durable when it
// returns.
type Journal interface {
	Record(ctx context.Context, r Record) error
}

// Observer reads what is live: fingerprints at every location and unfinished transactions. It reads the
// runtime's sources (and, for heal, its consumers) and the journal.
type Observer interface {
	Observe(ctx context.Context, d Desired) (Observed, error)
}

// Credentials finds the driver of a credential server by the name a secret gives it (Server.Name).
type Credentials interface {
	Server(name string) (Credential, error)
}

// Credential is the server side of a rotation, for secrets with a Server: one login on one server. It is
// the only credential seam: each driver (the sub-packages of provider) implements it directly. Values
// travel in memory only; an implementation passes them to the server on stdin or over its protocol,
// never in argv, and keeps them out of its errors. Every method is idempotent: a resumed or rolled-back
// transaction calls it again, and fails before changing anything when it cannot do all of its work.
type Credential interface {
	// Check confirms, before anything changes, that the server is reachable and of a supported version,
	// that rekey's admin access may change the credential, and that current (the value in the sources)
	// logs in: a rotation must not start from a base that does not work.
	Check(ctx context.Context, current string) error
	// Stage makes the server accept next as well as current. It returns the login next is valid for when
	// the server alternates between two logins (written to the secret's Logins), "" otherwise.
	Stage(ctx context.Context, current, next string) (login string, err error)
	// Verify confirms that next logs in.
	Verify(ctx context.Context, next string) error
	// Drain waits until no session uses a credential other than next, within the server's timeout.
	Drain(ctx context.Context, next string) error
	// Revoke makes the server accept next only, or returns an error wrapping ErrRevokeByHand when only
	// the operator can revoke the old value.
	Revoke(ctx context.Context, next string) error
	// Unstage makes the server accept current only again. next is "" when it is no longer known (a
	// transaction recovered after Git moved on).
	Unstage(ctx context.Context, current, next string) error
}

// Swapper is optionally implemented by a Credential without overlap (one password per login): Swap
// makes the server accept next instead of current in one step, for the swap strategy (no consumer runs
// meanwhile). The executor swaps any other Credential with Stage then Revoke.
type Swapper interface {
	Swap(ctx context.Context, current, next string) error
}

// Prober is optionally implemented by a Credential that can tell whether a value still logs in,
// changing nothing: how old values whose revocation is out of rekey's hands (ErrRevokeByHand) are
// followed. It returns (false, nil) when the server rejects the value, and an error when it cannot tell.
type Prober interface {
	Accepts(ctx context.Context, value string) (bool, error)
}

// ErrRevokeByHand is wrapped by Credential.Revoke for a credential rekey cannot revoke (an SMTP relay's
// or a third-party API's key, created and revoked in the provider's dashboard): the rotation completes,
// the old value is kept encrypted in the stash as a pending revocation, and later runs probe it (Prober)
// until it stops logging in.
var ErrRevokeByHand = errors.New("the old credential must be revoked at the provider")
