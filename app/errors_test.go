package app

import (
	"testing"

	"github.com/rekeyhq/rekey/reconcile"
)

// TestVerdictOf: the worst outcome of a run wins, in the documented order.
func TestVerdictOf(t *testing.T) {
	res := func(outcomes ...reconcile.Outcome) []reconcile.Result {
		var rs []reconcile.Result
		for _, o := range outcomes {
			rs = append(rs, reconcile.Result{Outcome: o})
		}
		return rs
	}
	for _, c := range []struct {
		rs   []reconcile.Result
		want Verdict
	}{
		{nil, VerdictOK},
		{res(reconcile.OutcomeInSync, reconcile.OutcomeFinalized), VerdictOK},
		{res(reconcile.OutcomeDrift), VerdictDrift},
		{res(reconcile.OutcomeDrift, reconcile.OutcomeRefused), VerdictRefused},
		{res(reconcile.OutcomeRefused, reconcile.OutcomeBlocked), VerdictError},
		{res(reconcile.OutcomeBlocked, reconcile.OutcomeRolledBack), VerdictRolledBack},
		{res(reconcile.OutcomeRolledBack, reconcile.OutcomeBlocked), VerdictRolledBack},
		{res(reconcile.OutcomeHeld), VerdictRolledBack},
		{res(reconcile.OutcomeFinalizeFailed, reconcile.OutcomeFailed, reconcile.OutcomeDrift), VerdictAttention},
	} {
		if got := VerdictOf(c.rs); got != c.want {
			t.Errorf("VerdictOf(%v) = %d, want %d", c.rs, got, c.want)
		}
	}
}
