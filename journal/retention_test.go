package journal

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/rekeyhq/rekey/reconcile"
)

// derived is everything the engine, the drift scan and `status` compute from one secret's records:
// retention must not change any of it.
type derived struct {
	Txn                 *reconcile.Txn
	Revoked             map[string]bool
	Applied, RolledBack string
	Reroll              string
	Pending             []string
	LastEnd             reconcile.Outcome
}

func derive(recs []reconcile.Record) derived {
	d := derived{Txn: reconcile.Replay(recs), Revoked: reconcile.Revoked(recs), Applied: reconcile.LastApplied(recs),
		RolledBack: reconcile.LastRolledBack(recs), Reroll: reconcile.LastRerollRolledBack(recs),
		Pending: reconcile.PendingRevocations(recs)}
	for _, r := range recs {
		if r.Type == reconcile.RecordEnd {
			d.LastEnd = r.Outcome
		}
	}
	return d
}

// openAndKept writes, after rotations, a pending revocation, a synced record, a transaction kept for its
// window (verified, not ended) and a newer one still open that holds it as kept.
func openAndKept(t *testing.T, j *Journal, secret string, n int) []reconcile.Record {
	t.Helper()
	at := t0.Add(time.Duration(n) * time.Hour)
	kept := rotation(secret, n, at, reconcile.OutcomeRotated)
	kept = slices.DeleteFunc(kept[:len(kept)-1], func(r reconcile.Record) bool { // up to verified
		return r.Type == reconcile.RecordPhase && r.Phase == reconcile.PhaseFinalizing
	})[:18]
	open := rotation(secret, n+1, at.Add(time.Minute), reconcile.OutcomeRotated)[:8]
	recs := []reconcile.Record{
		{Time: at, Secret: secret, Type: reconcile.RecordSynced, ToFP: fp(secret, n-1)},
		{Time: at, Txn: "pending-txn", Secret: secret, Type: reconcile.RecordPending, FromFP: fp(secret, 3)},
	}
	recs = append(append(recs, kept...), open...)
	for _, r := range recs {
		if err := j.Record(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	return recs
}

func TestRetentionKeepsWhatReadersNeed(t *testing.T) {
	j := open(t, t.TempDir(), WithRetention(5))
	full := writeRotations(t, j, 1, 60)
	full = append(full, openAndKept(t, j, "app_key", 61)...)

	for _, secret := range []string{"app_key", "redis_password", "pg_password"} {
		var want []reconcile.Record
		for _, r := range full {
			if r.Secret == secret {
				want = append(want, r)
			}
		}
		got, err := j.Records(secret)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) >= len(want) {
			t.Errorf("%s: %d records kept of %d: nothing was compacted", secret, len(got), len(want))
		}
		if g, w := derive(got), derive(want); !reflect.DeepEqual(g, w) {
			t.Errorf("%s: after retention\n got %+v\nwant %+v", secret, g, w)
		}
		checkKept(t, secret, got, want, 5)
	}
	tx, err := j.Txn("app_key")
	if err != nil || tx == nil || tx.Kept == nil || len(tx.Rolled) == 0 {
		t.Fatalf("Txn(app_key) = %+v, %v; want the open transaction with its kept one and its rolls", tx, err)
	}
}

// checkKept checks that the last keep finished transactions and every unfinished one kept all their
// records, and the older ones exactly their summary.
func checkKept(t *testing.T, secret string, got, want []reconcile.Record, keep int) {
	t.Helper()
	var finished []string
	for _, r := range want {
		if r.Type == reconcile.RecordEnd {
			finished = append(finished, r.Txn)
		}
	}
	old, folded := map[string]bool{}, map[string]bool{}
	for _, id := range finished[:max(len(finished)-keep, 0)] {
		old[id] = true
	}
	for _, id := range finished[:max(len(finished)-summaryFactor*keep, 0)] {
		folded[id] = true
	}
	var expect []reconcile.Record
	for _, r := range want {
		pending := r.Type == reconcile.RecordPending || r.Type == reconcile.RecordRevokedSeen
		if (!old[r.Txn] || summaryRecord(r)) && (!folded[r.Txn] || pending) {
			expect = append(expect, r)
		}
	}
	got = slices.DeleteFunc(slices.Clone(got), func(r reconcile.Record) bool { return strings.HasPrefix(r.Txn, FoldedTxn) })
	if len(got) != len(expect) {
		t.Fatalf("%s: %d records, want %d", secret, len(got), len(expect))
	}
	for i := range got {
		if !got[i].Time.Equal(expect[i].Time) || got[i].Txn != expect[i].Txn || got[i].Type != expect[i].Type || got[i].Step != expect[i].Step {
			t.Fatalf("%s: record %d = %+v, want %+v", secret, i, got[i], expect[i])
		}
	}
}

func TestRetentionZeroKeepsEverythingAndOpenPrunesWhenItChanges(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, WithRetention(0))
	if err != nil {
		t.Fatal(err)
	}
	full := writeRotations(t, j, 1, 30)
	all, _ := j.All()
	if len(all) != len(full) {
		t.Fatalf("retention 0 kept %d records of %d", len(all), len(full))
	}
	_ = j.Close()
	before := fileSize(t, dir)

	j = open(t, dir, WithRetention(DefaultRetention)) // the default retention, given: without the option Open keeps the stored one (keep.go)
	recs, err := j.Records("app_key")
	if err != nil {
		t.Fatal(err)
	}
	var want []reconcile.Record
	for _, r := range full {
		if r.Secret == "app_key" {
			want = append(want, r)
		}
	}
	checkKept(t, "app_key", recs, want, DefaultRetention)
	if after := fileSize(t, dir); after >= before {
		t.Errorf("journal.db is %d bytes after pruning at Open, %d before: not compacted", after, before)
	}
}

// TestOpenIndexesAnOldJournal writes a journal.db the way versions before the index did (records,
// stash and meta buckets, records under their sequence number only) and opens it.
func TestOpenIndexesAnOldJournal(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, dirMode); err != nil {
		t.Fatal(err)
	}
	var full []reconcile.Record
	for i := 1; i <= 40; i++ {
		for _, s := range synthSecrets(i) {
			full = append(full, rotation(s, i, t0.Add(time.Duration(i)*time.Hour), reconcile.OutcomeRotated)...)
		}
	}
	writeOldLayout(t, filepath.Join(dir, dbName), full)

	j := open(t, dir, WithRetention(10))
	for _, secret := range []string{"app_key", "pg_password", "nope"} {
		var want []reconcile.Record
		for _, r := range full {
			if r.Secret == secret {
				want = append(want, r)
			}
		}
		got, err := j.Records(secret)
		if err != nil {
			t.Fatal(err)
		}
		if secret == "nope" && len(got) != 0 {
			t.Fatalf("Records(nope) = %d records", len(got))
		}
		if len(want) > 0 {
			checkKept(t, secret, got, want, 10)
			if g, w := derive(got), derive(want); !reflect.DeepEqual(g, w) {
				t.Errorf("%s: after migration\n got %+v\nwant %+v", secret, g, w)
			}
		}
	}
	if names, err := j.Secrets(); err != nil || strings.Join(names, ",") != "app_key,pg_password,redis_password" {
		t.Fatalf("Secrets() = %v, %v", names, err)
	}
	// New records go after the old ones, indexed.
	r := rec("pg_password", "new", reconcile.RecordBegin, "")
	if err := j.Record(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	got, _ := j.Records("pg_password")
	if last := got[len(got)-1]; last.Txn != "new" {
		t.Fatalf("last record of pg_password = %+v, want the new begin", last)
	}
}

func writeOldLayout(t testing.TB, path string, recs []reconcile.Record) {
	t.Helper()
	db, err := bolt.Open(path, fileMode, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketRecords, bucketStash, bucketMeta} {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		b := tx.Bucket(bucketRecords)
		for _, r := range recs {
			seq, _ := b.NextSequence()
			if err := b.Put(seqKey(seq), mustJSON(t, r)); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keyApplied, []byte("abc"))
	})
	if err != nil {
		t.Fatal(err)
	}
}

func fileSize(t testing.TB, dir string) int64 {
	t.Helper()
	fi, err := os.Stat(filepath.Join(dir, dbName))
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestFoldKeepsTheLastAppliedAndRollbacks folds a history whose last applied value, last rollback and
// last heal re-roll rollback are all in the folded part: the readers must still see them.
func TestFoldKeepsTheLastAppliedAndRollbacks(t *testing.T) {
	j := open(t, t.TempDir(), WithRetention(1))
	ctx := context.Background()
	var full []reconcile.Record
	write := func(recs ...reconcile.Record) {
		for _, r := range recs {
			if err := j.Record(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		full = append(full, recs...)
	}
	write(reconcile.Record{Time: t0, Secret: "s", Type: reconcile.RecordSynced, ToFP: fp("s", 0)})
	for i := 1; i <= 5; i++ {
		write(rotation("s", i, t0.Add(time.Duration(i)*time.Hour), reconcile.OutcomeRotated)...)
	}
	write(reconcile.Record{Time: t0, Txn: "p", Secret: "s", Type: reconcile.RecordPending, FromFP: fp("s", 2)})
	reroll := rotation("s", 6, t0.Add(6*time.Hour), reconcile.OutcomeRolledBack)
	reroll[0].FromFP = reroll[0].ToFP
	write(reroll...)
	for i := 7; i <= 20; i++ { // rolled back before verification: nothing applied since the re-roll of rotation 6
		r := rotation("s", i, t0.Add(time.Duration(i)*time.Hour), reconcile.OutcomeRolledBack)
		write(append(r[:2:2], r[len(r)-1])...)
	}
	got, err := j.Records("s")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) >= 40 {
		t.Fatalf("%d records after folding", len(got))
	}
	if g, w := derive(got), derive(full); !reflect.DeepEqual(g, w) {
		t.Errorf("after folding\n got %+v\nwant %+v", g, w)
	}
	if w := derive(full); w.Applied != fp("s", 6) || w.Reroll != fp("s", 6) || len(w.Pending) != 1 {
		t.Fatalf("the test history says %+v", w)
	}
	all, err := j.All()
	if err != nil {
		t.Fatal(err)
	}
	if g, w := derive(all), derive(full); !reflect.DeepEqual(g, w) {
		t.Errorf("All() after folding\n got %+v\nwant %+v", g, w)
	}
}

// TestEndRecordedDespiteUnreadableHistory: a damaged record of a secret must not keep its end record
// from being written; the pruning is skipped, Records reports the damage.
func TestEndRecordedDespiteUnreadableHistory(t *testing.T) {
	j := open(t, t.TempDir(), WithRetention(1))
	writeRotations(t, j, 1, 3)
	if err := j.update(func(tx *bolt.Tx) error {
		seq, _ := tx.Bucket(bucketRecords).NextSequence()
		if err := tx.Bucket(bucketRecords).Put(seqKey(seq), []byte("{not json")); err != nil {
			return err
		}
		return tx.Bucket(bucketIndex).Put(indexKey("app_key", seq), nil)
	}); err != nil {
		t.Fatal(err)
	}
	for _, r := range rotation("app_key", 4, t0.Add(4*time.Hour), reconcile.OutcomeRotated) {
		if err := j.Record(context.Background(), r); err != nil {
			t.Fatalf("Record(%s): %v", r.Type, err)
		}
	}
	if _, err := j.Records("app_key"); err == nil {
		t.Fatal("Records read a damaged record without an error")
	}
}

// TestFoldKeepsAPendingRevocationInsideAnEndedTransaction: a pending revocation recorded inside a
// transaction that ended is packed with it, then folded with it: it must survive both, or the old key
// would never be probed again (and its stash never dropped).
func TestFoldKeepsAPendingRevocationInsideAnEndedTransaction(t *testing.T) {
	ctx := context.Background()
	j, err := Open(t.TempDir(), WithRetention(1))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	write := func(recs ...reconcile.Record) {
		t.Helper()
		for _, r := range recs {
			if err := j.Record(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	first := rotation("s", 1, t0, reconcile.OutcomeRotated)
	pending := reconcile.Record{Time: t0, Txn: first[0].Txn, Secret: "s", Type: reconcile.RecordPending, FromFP: fp("s", 0)}
	write(append(append(first[:len(first)-1:len(first)-1], pending), first[len(first)-1])...)
	for i := 2; i <= 30; i++ {
		write(rotation("s", i, t0.Add(time.Duration(i)*time.Hour), reconcile.OutcomeRotated)...)
		recs, err := j.Records("s")
		if err != nil {
			t.Fatal(err)
		}
		if got := reconcile.PendingRevocations(recs); len(got) != 1 {
			t.Fatalf("after rotation %d: pending revocations %v, want the one of rotation 1", i, got)
		}
	}
}
