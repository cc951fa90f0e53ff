package app

import (
	"errors"
	"fmt"

	"github.com/rekeyhq/rekey/reconcile"
)

// Verdict is how a use case ended, worst first wins. Its values are the exit codes the CLI documents
// (docs/cli.md), so that the CLI and the agent's control socket report the same numbers.
type Verdict int

const (
	VerdictOK         Verdict = 0 // everything in sync, rotated, or waiting for its window
	VerdictError      Verdict = 1 // bad input or an unreachable dependency: nothing was changed
	VerdictRolledBack Verdict = 3 // a rotation was rolled back, or a finalize failed
	VerdictAttention  Verdict = 4 // a rollback or recovery did not complete
	VerdictRefused    Verdict = 5 // the desired state was not trusted: nothing changed
	VerdictDrift      Verdict = 6 // live values differ from an unchanged Git
	VerdictUnknown    Verdict = 7 // drift: some places could not be read (and none drifted)
)

// VerdictOf maps the outcomes of a run to its verdict: the worst outcome wins.
func VerdictOf(rs []reconcile.Result) Verdict {
	v := VerdictOK
	for _, r := range rs {
		switch r.Outcome {
		case reconcile.OutcomeFailed:
			return VerdictAttention
		case reconcile.OutcomeRolledBack, reconcile.OutcomeFinalizeFailed, reconcile.OutcomeHeld:
			v = VerdictRolledBack
		case reconcile.OutcomeBlocked:
			// A credential server's check failed before anything changed: an unreachable dependency.
			if v != VerdictRolledBack {
				v = VerdictError
			}
		case reconcile.OutcomeRefused:
			if v == VerdictOK || v == VerdictDrift {
				v = VerdictRefused
			}
		case reconcile.OutcomeDrift:
			if v == VerdictOK {
				v = VerdictDrift
			}
		}
	}
	return v
}

// RefusedError is the trust guard's answer: the commit is not applied, and nothing it names was read.
// Err is the verification error behind it, if any (gitsync.ErrUnsigned, ErrUntrusted, ErrBadSignature).
type RefusedError struct {
	Reason string
	Err    error
}

func (e *RefusedError) Error() string { return "refused: " + e.Reason }
func (e *RefusedError) Unwrap() error { return e.Err }

func refused(format string, args ...any) error {
	return &RefusedError{Reason: fmt.Sprintf(format, args...)}
}

// OutcomeError ends a use case that ran with a verdict other than OK (a rollback, a drift, a secret left
// out); Msg is already redacted and may be empty when the results say it all.
type OutcomeError struct {
	Verdict Verdict
	Msg     string
}

func (e *OutcomeError) Error() string { return e.Msg }

func outcome(v Verdict, format string, args ...any) error {
	return &OutcomeError{Verdict: v, Msg: fmt.Sprintf(format, args...)}
}

// Transient marks an error worth retrying soon (the remote or the engine is unreachable), unlike a
// rollback or a refusal, which a retry would only repeat.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return &transientError{err}
}

type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

// IsTransient reports whether err was marked with Transient.
func IsTransient(err error) bool {
	var t *transientError
	return errors.As(err, &t)
}

// OptionsError says the options cannot work together (the CLI's usage error): nothing was done.
type OptionsError struct{ Msg string }

func (e *OptionsError) Error() string { return e.Msg }
