package agent

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/rekeyhq/rekey/app"
	"github.com/rekeyhq/rekey/gitsync"
	"github.com/rekeyhq/rekey/reconcile"
)

// resultLevel is how loud a secret's outcome is logged: ERROR for a transaction left stuck (the new value
// live but the old one not retired, a rollback that failed) or a value held after a rollback, both of
// which need the operator; WARN for a run that failed without leaving anything open; INFO otherwise.
func resultLevel(o reconcile.Outcome) slog.Level {
	switch o {
	case reconcile.OutcomeFinalizeFailed, reconcile.OutcomeFailed, reconcile.OutcomeHeld:
		return slog.LevelError
	case reconcile.OutcomeRolledBack, reconcile.OutcomeBlocked, reconcile.OutcomeRefused:
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

// logResults logs every secret that did something or could not, once per secret and outcome per run
// (a finalize that failed before the rotation it made wait is two lines; the same line twice is one).
func logResults(log *slog.Logger, results []reconcile.Result) {
	seen := map[[3]string]bool{}
	for _, res := range results {
		if res.Outcome == reconcile.OutcomeInSync {
			continue
		}
		reason := res.Reason
		if reason == "" {
			reason = res.Note
		}
		key := [3]string{res.Secret, string(res.Outcome), reason}
		if seen[key] {
			continue
		}
		seen[key] = true
		attrs := []any{"secret", res.Secret, "outcome", res.Outcome, "from", res.FromFP, "to", res.ToFP, "reason", reason}
		if res.Reason != "" && res.Note != "" {
			attrs = append(attrs, "note", res.Note)
		}
		log.Log(context.Background(), resultLevel(res.Outcome), "secret", attrs...)
	}
}

// logScheduled logs the scheduled rotations' write-backs: a commit at INFO, a failure at WARN.
func logScheduled(log *slog.Logger, done []app.Scheduled) {
	for _, sc := range done {
		if sc.Err != nil {
			log.Warn("scheduled rotation", "secret", sc.Secret, "error", sc.Err.Error())
			continue
		}
		log.Info("scheduled rotation committed", "secret", sc.Secret, "commit", gitsync.Short(sc.Commit.Hash))
	}
}

// nextStepText is the exact next step of a stuck secret, for its alert: what is live, what to fix and
// the command that finishes the transaction.
func nextStepText(r reconcile.Result, server string) string {
	switch r.Outcome {
	case reconcile.OutcomeFinalizeFailed:
		if server != "" {
			return fmt.Sprintf("the new value is live but %s still has to revoke the old one. Next: make %s reachable "+
				"(`docker compose ps`), then run `rekey reconcile` to finish (the agent retries at every run); "+
				"`rekey status` shows the open transaction", server, server)
		}
		return "the new value is live and the previous one still accepted. Next: fix the cause, then run `rekey reconcile` " +
			"to finish (the agent retries at every run); `rekey status` shows the open transaction"
	case reconcile.OutcomeFailed:
		if _, next, ok := strings.Cut(r.Reason, "Next: "); ok && r.Action == reconcile.ActionHold {
			return next // an undeclared secret's transaction rekey cannot finish: its reason names the step
		}
		return "the rollback did not finish and the transaction is open. Next: fix the cause, then run `rekey reconcile` " +
			"to finish the rollback; `rekey status` shows the open transaction"
	}
	return ""
}

// servers maps each secret with a credential server to the server's name.
func servers(s *app.Session) map[string]string {
	m := map[string]string{}
	if s == nil {
		return m
	}
	for _, sec := range s.Desired.Secrets {
		if sec.Server != nil {
			m[sec.Name] = sec.Server.Name
		}
	}
	return m
}
