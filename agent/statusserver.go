package agent

import (
	"time"

	"github.com/rekeyhq/rekey/reconcile"
	"github.com/rekeyhq/rekey/statuspage"
)

// serverSource is the server side of a secret as a row of its sources, shown when it is not in sync:
// the drift scan found that the server does not accept Git's value, or the secret's transaction is
// stuck between verified and the revoke (its sources and consumers hold the new value, but the server
// has not been brought to it: it may still accept the old value, or only the old one after a restart).
// A server in sync adds no row.
func serverSource(sec reconcile.Secret, recs []reconcile.Record, byPlace map[[3]string][]reconcile.Drift,
	redact func(string) string, now time.Time) (statuspage.SourceState, bool) {
	if sec.Server == nil {
		return statuspage.SourceState{}, false
	}
	row := statuspage.SourceState{Location: "server " + sec.Server.Name}
	if t := reconcile.Replay(recs); t != nil && stuck(t, now) {
		reason := "transaction " + t.ID + " is stuck at " + t.Phase.String() +
			": the server has not been brought to Git's value (it may still accept the old one, or only it)"
		if last := lastFailure(recs, t.ID); last != "" {
			reason += "; last failure: " + redact(last)
		}
		row.Drift = statuspage.Drift{State: reconcile.DriftServerMismatch, Since: t.Started, Reason: reason}
		return row, true
	}
	for _, d := range byPlace[[3]string{sec.Name, reconcile.PlaceServer, sec.Server.Name}] {
		if d.State.Drifted() {
			row.Drift = statusDrift(d, redact)
			return row, true
		}
	}
	return statuspage.SourceState{}, false
}

// stuck says a server transaction is past verified and not finished: between runs (when the page is
// built) it can only be one whose revoke failed.
func stuck(t *reconcile.Txn, now time.Time) bool {
	return t.Phase == reconcile.PhaseFinalizing || t.Phase == reconcile.PhaseVerified && !t.FinalizeAfter.After(now)
}

func lastFailure(recs []reconcile.Record, txn string) string {
	for i := len(recs) - 1; i >= 0; i-- {
		if r := recs[i]; r.Txn == txn && r.Type == reconcile.RecordFailed {
			return r.Reason
		}
	}
	return ""
}
