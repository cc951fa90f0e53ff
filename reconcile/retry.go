package reconcile

import (
	"context"
	"errors"
	"time"
)

// Retryable is implemented by adapter errors that say the dependency is away for a while (the container
// engine restarting, a socket not there yet) rather than that the step itself is wrong. A rollback retries
// such steps until the dependency answers or the rollback budget runs out: giving up in the few
// milliseconds an absent engine takes to refuse would leave the stack half-rolled.
type Retryable interface {
	Retryable() bool
}

// IsRetryable reports whether any error in err's chain says it is worth retrying.
func IsRetryable(err error) bool {
	var r Retryable
	return errors.As(err, &r) && r.Retryable()
}

// Backoff bounds of retried rollback steps.
const (
	retryFirst = 250 * time.Millisecond
	retryMax   = 5 * time.Second
)

// retrying runs f until it succeeds, fails with an error that is not retryable, or ctx (the rollback
// budget) ends; it returns f's last error.
func (r *run) retrying(ctx context.Context, f func() error) error {
	pause := retryFirst
	for {
		err := f()
		if err == nil || !IsRetryable(err) {
			return err
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		pause = min(2*pause, retryMax)
	}
}
