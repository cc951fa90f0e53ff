package journal

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/reconcile"
)

// foldedHistory writes a synthetic history of iterations of the soak's mix, opens it with a retention of
// 2 (so that all but the last 20 finished rotations of each secret are folded) and returns the journal
// and, per secret, every record the history wrote, before any pruning.
func foldedHistory(t *testing.T, iterations int) (*Journal, map[string][]reconcile.Record) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	secrets := [3]string{"app_key", "redis_password", "pg_password"}
	end := t0.Add(time.Duration(iterations+1) * time.Hour)
	if _, err := WriteSyntheticHistory(dir, secrets, iterations, end); err != nil {
		t.Fatal(err)
	}
	written := map[string][]reconcile.Record{}
	for i := 1; i <= iterations; i++ { // what WriteSyntheticHistory wrote, recomputed
		at := end.Add(-time.Duration(iterations-i+1) * time.Hour)
		for _, s := range SyntheticMix(secrets, i) {
			outcome := reconcile.OutcomeRotated
			if i%7 == 3 {
				outcome = reconcile.OutcomeRolledBack
			}
			written[s] = append(written[s], SyntheticRotation(s, i, at, outcome)...)
		}
	}
	j, err := Open(dir, WithRetention(2))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = j.Close() })
	return j, written
}

// lastOf returns the last record of type typ, zero if none.
func lastOf(recs []reconcile.Record, typ reconcile.RecordType) reconcile.Record {
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].Type == typ {
			return recs[i]
		}
	}
	return reconcile.Record{}
}

// TestHistoryAnswersAsRecords checks the compact history of a folded journal against the expanded one
// (Records) and against the history as it was written: the same open transaction, last applied value,
// last rollbacks, pending revocations, last end and last begin, and the same revoked values, every one of
// them (a value the fold lost would be accepted again by apply).
func TestHistoryAnswersAsRecords(t *testing.T) {
	j, written := foldedHistory(t, 400)
	for secret, all := range written {
		full, err := j.Records(secret)
		if err != nil {
			t.Fatal(err)
		}
		h, err := j.History(secret)
		if err != nil {
			t.Fatal(err)
		}
		if len(h.FoldedRevoked) < 10 || len(h.Records) >= len(full) {
			t.Fatalf("%s: %d folded revoked values, %d compact records of %d: the journal is not folded as the test needs",
				secret, len(h.FoldedRevoked), len(h.Records), len(full))
		}
		if !slices.IsSorted(h.FoldedRevoked) {
			t.Errorf("%s: folded revoked values not sorted", secret)
		}
		if got, want := reconcile.Replay(h.Records), reconcile.Replay(full); (got == nil) != (want == nil) || got != nil && got.ID != want.ID {
			t.Errorf("%s: Replay = %+v, want %+v", secret, got, want)
		}
		checks := map[string]func([]reconcile.Record) string{
			"LastApplied":          reconcile.LastApplied,
			"LastRolledBack":       reconcile.LastRolledBack,
			"LastRerollRolledBack": reconcile.LastRerollRolledBack,
			"PendingRevocations":   func(r []reconcile.Record) string { return strings.Join(reconcile.PendingRevocations(r), ",") },
			"last end": func(r []reconcile.Record) string {
				e := lastOf(r, reconcile.RecordEnd)
				return e.Txn + "/" + string(e.Outcome)
			},
			"last begin": func(r []reconcile.Record) string { return lastOf(r, reconcile.RecordBegin).Time.String() },
		}
		for name, f := range checks {
			if got, want := f(h.Records), f(full); got != want {
				t.Errorf("%s: %s = %q over the compact history, %q over the records", secret, name, got, want)
			}
			if got, want := f(h.Records), f(all); got != want && name != "last end" { // a folded end has no time
				t.Errorf("%s: %s = %q over the compact history, %q over the history written", secret, name, got, want)
			}
		}
		revoked, expanded := reconcile.Revoked(all), reconcile.Revoked(full)
		fps := map[string]bool{"": true, "hmac:never-seen": true}
		for _, r := range all {
			fps[r.FromFP], fps[r.ToFP] = true, true
		}
		nrev := 0
		for fp := range fps {
			if revoked[fp] {
				nrev++
			}
			if got := h.Revoked(fp); got != revoked[fp] || got != expanded[fp] {
				t.Errorf("%s: Revoked(%q) = %v over the compact history, %v over the records, %v over the history written",
					secret, fp, got, expanded[fp], revoked[fp])
			}
		}
		if nrev != len(revoked) || nrev < len(h.FoldedRevoked) {
			t.Errorf("%s: %d revoked values checked of %d (%d folded)", secret, nrev, len(revoked), len(h.FoldedRevoked))
		}
	}
}
