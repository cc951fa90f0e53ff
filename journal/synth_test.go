package journal

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/reconcile"
)

// rotation is the records of one finished rotation of secret, shaped like the executor's: see
// SyntheticRotation.
func rotation(secret string, n int, at time.Time, outcome reconcile.Outcome) []reconcile.Record {
	return SyntheticRotation(secret, n, at, outcome)
}

func fp(secret string, n int) string {
	return syntheticFP(secret, n)
}

// synthSecrets is the mix of the soak: the app key every time, Redis every 5th, PostgreSQL every 10th.
func synthSecrets(i int) []string {
	out := []string{"app_key"}
	if i%5 == 0 {
		out = append(out, "redis_password")
	}
	if i%10 == 0 {
		out = append(out, "pg_password")
	}
	return out
}

// writeRotations records n rotations of the soak's mix (starting at rotation first), each followed by
// the Drop of its stash as the executor does, and returns every record written.
func writeRotations(tb testing.TB, j *Journal, first, n int) []reconcile.Record {
	tb.Helper()
	ctx := context.Background()
	var all []reconcile.Record
	for i := first; i < first+n; i++ {
		at := t0.Add(time.Duration(i) * time.Hour)
		for _, s := range synthSecrets(i) {
			outcome := reconcile.OutcomeRotated
			if i%7 == 3 {
				outcome = reconcile.OutcomeRolledBack
			}
			recs := rotation(s, i, at, outcome)
			for _, r := range recs {
				if err := j.Record(ctx, r); err != nil {
					tb.Fatal(err)
				}
			}
			if err := j.Drop(ctx, recs[0].Txn); err != nil {
				tb.Fatal(err)
			}
			all = append(all, recs...)
		}
	}
	return all
}

func mustJSON(tb testing.TB, r reconcile.Record) []byte {
	tb.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestWriteSyntheticHistory checks the benchmarks' synthetic year: every rotation's records are there,
// Open indexes them and the retention prunes them, and an existing journal is never overwritten.
func TestWriteSyntheticHistory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	secrets := [3]string{"a", "b", "c"}
	n, err := WriteSyntheticHistory(dir, secrets, 30, t0)
	if err != nil {
		t.Fatal(err)
	}
	// 30 + 6 + 3 rotations of 24 records, 4 of the app key's and 1 of the others' rolled back (one more).
	if want := 39*24 + 4 + 1 + 1; n != want {
		t.Errorf("wrote %d records, want %d", n, want)
	}
	j := open(t, dir, WithRetention(2))
	recs, err := j.Records("a")
	if err != nil {
		t.Fatal(err)
	}
	ends := 0
	for _, r := range recs {
		if r.Type == reconcile.RecordEnd {
			ends++
		}
	}
	if ends != 30 {
		t.Errorf("the app key's history holds %d ended rotations, want 30 (summaries included)", ends)
	}
	if len(recs) >= 30*24 {
		t.Errorf("the retention pruned nothing: %d records of the app key", len(recs))
	}
	if _, err := WriteSyntheticHistory(dir, secrets, 1, t0); err == nil {
		t.Error("WriteSyntheticHistory overwrote an existing journal")
	}
}
