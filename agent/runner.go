package agent

import (
	"context"
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
	// One load and one apply per run: the scheduled rotations are written back inside the apply, and
	// their results are the apply's, reported to the monitor with every other secret's.
	s, scheduled, results, err := app.ApplyScheduled(ctx, r.Options, r.Author)
	logScheduled(r.Log, scheduled)
	r.Monitor.scheduled(scheduled)
	r.mu.Lock()
	r.last = results
	r.mu.Unlock()
	logResults(r.Log, results)
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

// Results are the results of the last run.
func (r *Runner) Results() []reconcile.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}
