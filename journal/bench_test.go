package journal

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/rekeyhq/rekey/reconcile"
)

// yearRotations is the soak's mix (app key every rotation, Redis every 5th, PostgreSQL every 10th) run
// 7,693 times: 10,000 rotated secrets, about 240,000 records.
const yearRotations = 7693

var yearSecrets = []string{"app_key", "redis_password", "pg_password"}

// yearJournal writes the journal of a year in the layout of earlier versions (no index, no retention) into
// a new state dir and returns it.
func yearJournal(b *testing.B) string {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "state")
	if err := os.Mkdir(dir, dirMode); err != nil {
		b.Fatal(err)
	}
	var recs []reconcile.Record
	for i := 1; i <= yearRotations; i++ {
		for _, s := range synthSecrets(i) {
			outcome := reconcile.OutcomeRotated
			if i%7 == 3 {
				outcome = reconcile.OutcomeRolledBack
			}
			recs = append(recs, rotation(s, i, t0.Add(time.Duration(i)*time.Hour), outcome)...)
		}
	}
	writeOldLayout(b, filepath.Join(dir, dbName), recs)
	b.Logf("synthetic journal: %d records, journal.db %d bytes (layout of earlier versions)", len(recs), fileSize(b, dir))
	return dir
}

// copyStateDir copies the state dir of a year so that each variant starts from the same file.
func copyStateDir(b *testing.B, src string) string {
	b.Helper()
	dst := filepath.Join(b.TempDir(), "state")
	if err := os.Mkdir(dst, dirMode); err != nil {
		b.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(src, dbName))
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, dbName), data, fileMode); err != nil {
		b.Fatal(err)
	}
	return dst
}

// statusWork is what `rekey status` asks of the journal: Open, then per secret the records the observer
// replays (transaction, revoked values, last applied, pending revocations) and again for the last end.
func statusWork(b *testing.B, dir string, records func(*Journal, string) ([]reconcile.Record, error), opts ...Option) {
	j, err := Open(dir, opts...)
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	for _, s := range yearSecrets {
		recs, err := records(j, s)
		if err != nil {
			b.Fatal(err)
		}
		_ = derive(recs)
		if _, err := records(j, s); err != nil { // lastEnd
			b.Fatal(err)
		}
		if _, err := j.Txn(s); err != nil {
			b.Fatal(err)
		}
	}
}

// scanRecords is Records as earlier versions read it: every record decoded, one secret's kept.
func scanRecords(j *Journal, secret string) ([]reconcile.Record, error) {
	return j.records(func(r reconcile.Record) bool { return r.Secret == secret })
}

// BenchmarkYearJournal measures `rekey status`'s journal work on a year of rotations: as earlier versions
// did it (a full scan per secret, no retention), with the index only, and with the index and the default
// retention; and one more rotation (its 24 records, the pruning and the compaction) on the retained
// journal.
func BenchmarkYearJournal(b *testing.B) {
	year := yearJournal(b)

	full := copyStateDir(b, year)
	j, err := Open(full, WithRetention(0)) // indexes it, prunes nothing
	if err != nil {
		b.Fatal(err)
	}
	_ = j.Close()
	b.Logf("indexed, retention off: journal.db %d bytes", fileSize(b, full))

	retained := copyStateDir(b, year)
	start := time.Now()
	j, err = Open(retained)
	if err != nil {
		b.Fatal(err)
	}
	_ = j.Close()
	b.Logf("first Open with the default retention (index, prune, compact): %v; journal.db %d bytes",
		time.Since(start).Round(time.Millisecond), fileSize(b, retained))

	b.Run("status/full-scan-no-retention", func(b *testing.B) {
		for range b.N {
			statusWork(b, full, scanRecords, WithRetention(0))
		}
	})
	b.Run("status/index-no-retention", func(b *testing.B) {
		for range b.N {
			statusWork(b, full, (*Journal).Records, WithRetention(0))
		}
	})
	b.Run("status/index-retention", func(b *testing.B) {
		for range b.N {
			statusWork(b, retained, (*Journal).Records)
		}
	})
	// One agent cycle's reads on the retained year: the drift scan's copy of the records, then apply's
	// observation of each secret (open transaction, revoked guard, last applied, rollbacks).
	b.Run("agent-cycle/expanded", func(b *testing.B) { agentCycle(b, retained, expandedCycle) })
	b.Run("agent-cycle/compact", func(b *testing.B) { agentCycle(b, retained, compactCycle) })
	b.Run("rotation/index-retention", func(b *testing.B) {
		j, err := Open(retained)
		if err != nil {
			b.Fatal(err)
		}
		defer j.Close()
		b.ResetTimer()
		writeRotations(b, j, yearRotations+1, b.N)
		b.StopTimer()
		b.Logf("after %d more rotations: journal.db %d bytes", b.N, fileSize(b, retained))
	})
}

// agentCycle runs cycle b.N times on the journal in dir, opened once.
func agentCycle(b *testing.B, dir string, cycle func(*Journal) error) {
	j, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := cycle(j); err != nil {
			b.Fatal(err)
		}
	}
}

// expandedCycle is a cycle as earlier versions read it: every record for the scan (All), then each
// secret's expanded records for its observation.
func expandedCycle(j *Journal) error {
	all, err := j.All()
	if err != nil {
		return err
	}
	_ = derive(all)
	for _, s := range yearSecrets {
		recs, err := j.Records(s)
		if err != nil {
			return err
		}
		_ = derive(recs)
		_ = reconcile.Revoked(recs)[syntheticFP(s, 1)]
	}
	return nil
}

// compactCycle is a cycle through History: the declared secrets' compact records for the scan, then
// each secret's again for its observation, the revoked guard asking the folded set.
func compactCycle(j *Journal) error {
	for range 2 {
		for _, s := range yearSecrets {
			h, err := j.History(s)
			if err != nil {
				return err
			}
			_ = derive(h.Records)
			_ = h.Revoked(syntheticFP(s, 1))
		}
	}
	return nil
}

// TestRetentionBoundsTheFile checks that once retention kicks in, more rotations barely grow journal.db:
// what stays of an old rotation is its summary.
func TestRetentionBoundsTheFile(t *testing.T) {
	dir := t.TempDir()
	j := open(t, dir, WithRetention(1)) // 1 in full, 10 summaries: every secret of the mix is past them at 100
	writeRotations(t, j, 1, 100)
	first := liveBytes(t, j)
	writeRotations(t, j, 101, 100)
	second := liveBytes(t, j)
	perRotation := float64(second-first) / 130 // 100 iterations of the mix: 130 rotated secrets
	t.Logf("records, index and meta: %d bytes in use after 100 iterations, %d after 200 (journal.db %d bytes): %.0f bytes per rotated secret",
		first, second, fileSize(t, dir), perRotation)
	if perRotation > 100 {
		t.Errorf("journal.db grows by %.0f bytes per rotated secret once retention kicks in, want at most 100 (5.7 KB without it)", perRotation)
	}
}

// liveBytes is what the records, the index and the meta bucket (folded histories) take in journal.db's pages (the file itself grows by
// whole, doubling, allocations).
func liveBytes(tb testing.TB, j *Journal) int {
	tb.Helper()
	n := 0
	err := j.view(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketRecords, bucketIndex, bucketMeta} {
			st := tx.Bucket(name).Stats()
			n += st.LeafInuse + st.BranchInuse
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}
