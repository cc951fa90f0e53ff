package agent

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/rekeyhq/rekey/app"
	"github.com/rekeyhq/rekey/gitsync"
	"github.com/rekeyhq/rekey/reconcile"
)

// Runner is the agent's Reconciler: each run writes back the secrets due for scheduled rotation, applies
// the desired state (behind the trust guard), reports to the monitor, and keeps the results for
// `rekey reconcile`.
type Runner struct {
	Options app.Options
	Log     *slog.Logger
	Author  gitsync.Author // of scheduled-rotation commits
	Monitor *Monitor

	mu   sync.Mutex
	last []reconcile.Result
}

// Reconcile implements Reconciler.
func (r *Runner) Reconcile(ctx context.Context, reason string) error {
	start := time.Now()
	s, results, err := r.reconcile(ctx)
	r.Monitor.reconciled(s, results, err, time.Since(start))
	if s != nil {
		r.Monitor.loaded(ctx, s)
		if serr := r.Monitor.Scan(ctx, "after reconcile"); serr != nil {
			r.Log.Warn("drift scan", "error", serr)
		}
	}
	return err
}

func (r *Runner) reconcile(ctx context.Context) (*app.Session, []reconcile.Result, error) {
	if err := r.rotateDue(ctx); err != nil {
		r.Log.Warn("scheduled rotation", "error", err)
	}
	s, results, err := app.Apply(ctx, r.Options)
	r.mu.Lock()
	r.last = results
	r.mu.Unlock()
	r.logResults(results)
	if s != nil {
		for _, sk := range s.Skipped {
			r.Log.Warn("secret skipped: its declaration or value is invalid", "secret", sk.Name, "error", s.Redact.String(sk.Err.Error()))
		}
	}
	if err != nil {
		if s != nil {
			err = s.Redact.Error(err)
		}
		return s, results, err
	}
	if v := app.VerdictOf(results); v != app.VerdictOK && v != app.VerdictDrift {
		return s, results, &app.OutcomeError{Verdict: v, Msg: "not every secret converged; see the secret lines above"}
	}
	if s != nil && len(s.Skipped) > 0 {
		return s, results, &app.OutcomeError{Verdict: app.VerdictError,
			Msg: strconv.Itoa(len(s.Skipped)) + " invalid secret(s) skipped, the others reconciled; see the warnings"}
	}
	return s, results, nil
}

// rotateDue writes back a new value for each secret whose rotate_every has passed, and applies it before
// the next one. Nothing is applied for a secret whose write-back failed. A refused commit is left to the
// apply that follows, which reports it.
func (r *Runner) rotateDue(ctx context.Context) error {
	for range 16 { // bounded: one per due secret
		secret, c, err := app.RotateFirstDue(ctx, r.Options, r.Author)
		var ref *app.RefusedError
		if errors.As(err, &ref) {
			return nil
		}
		if err != nil || secret == "" {
			return err
		}
		r.Log.Info("scheduled rotation committed", "secret", secret, "commit", gitsync.Short(c.Hash))
		s, results, err := app.Apply(ctx, r.Options)
		r.logResults(results)
		if err != nil {
			if s != nil {
				err = s.Redact.Error(err)
			}
			return err
		}
	}
	return nil
}

// logResults logs every secret that did something or could not.
func (r *Runner) logResults(results []reconcile.Result) {
	for _, res := range results {
		if res.Outcome != reconcile.OutcomeInSync {
			reason := res.Reason
			if reason == "" {
				reason = res.Note
			}
			r.Log.Info("secret", "secret", res.Secret, "outcome", res.Outcome, "from", res.FromFP, "to", res.ToFP, "reason", reason)
		}
	}
}

// Results are the results of the last run.
func (r *Runner) Results() []reconcile.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}
