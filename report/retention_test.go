package report

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/journal"
	"github.com/rekeyhq/rekey/reconcile"
)

// TestAttachTxnsCutShortWalksOnce is the `history` limit anomaly: with --limit, the revisions of most
// transactions are older than every listed commit, and each of them was checked against every listed
// commit by a walk of its whole history. Placing a revision takes one short walk back from it now.
func TestAttachTxnsCutShortWalksOnce(t *testing.T) {
	const old = 500
	var txns []Txn
	date := map[string]time.Time{}
	for i := 1; i <= old+10; i++ {
		rev := fmt.Sprintf("c%d", i)
		date[rev] = tm(0).Add(time.Duration(i) * time.Minute)
		txns = append(txns, Txn{ID: fmt.Sprintf("t%d", i), Secret: "s", Revision: rev})
	}
	txns = append(txns, Txn{ID: "x", Secret: "s", Revision: "x"}) // touched other files, after c505
	var listed []string                                           // --limit 10: c510 .. c501
	for i := old + 10; i > old; i-- {
		listed = append(listed, fmt.Sprintf("c%d", i))
	}
	walks := 0
	a := ancestry{
		isAncestor: func(anc, d string) (bool, error) {
			walks++
			n, m := 0, 0
			fmt.Sscanf(anc, "c%d", &n)
			if d == "x" {
				return n <= 505, nil
			}
			fmt.Sscanf(d, "c%d", &m)
			return n <= m, nil
		},
		cut: date["c501"],
	}
	want, err := attachTxns(txns, listed, "", a)
	if err != nil {
		t.Fatal(err)
	}
	if walks < old*len(listed) {
		t.Fatalf("without lastTouch: %d walks, expected one per listed commit for each old revision", walks)
	}
	walks = 0
	a.lastTouch = func(rev string) (string, time.Time, error) {
		if rev == "x" {
			return "c505", date["c505"], nil
		}
		return rev, date[rev], nil
	}
	got, err := attachTxns(txns, listed, "", a)
	if err != nil {
		t.Fatal(err)
	}
	if walks != 0 {
		t.Errorf("%d ancestry walks for %d old revisions, want none", walks, old)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || len(got["c505"]) != 2 || len(got) != 10 {
		t.Errorf("attached %v, want %v", got, want)
	}
}

// TestHistoryOfARetainedJournal reads the transactions of a journal past its retention: the old ones are
// compacted to their summary and still say when they ran, what they applied and how they ended; the
// oldest, folded, are not shown as transactions; the newest keep every roll.
func TestHistoryOfARetainedJournal(t *testing.T) {
	j, err := journal.Open(t.TempDir(), journal.WithRetention(2))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	ctx := context.Background()
	for i := 1; i <= 30; i++ {
		id, at := fmt.Sprintf("txn-%02d", i), tm(0).Add(time.Duration(i)*time.Hour)
		rec := func(typ reconcile.RecordType, r reconcile.Record) {
			r.Time, r.Txn, r.Secret, r.Revision, r.Type = at, id, "app-key", fmt.Sprintf("%040d", i), typ
			at = at.Add(time.Second)
			if err := j.Record(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		rec(reconcile.RecordBegin, reconcile.Record{FromFP: fmt.Sprintf("hmac:%02d", i-1), ToFP: fmt.Sprintf("hmac:%02d", i)})
		rec(reconcile.RecordPhase, reconcile.Record{Phase: reconcile.PhaseRolling})
		rec(reconcile.RecordIntent, reconcile.Record{Step: "roll app", Consumer: "app", Roll: "recreate"})
		rec(reconcile.RecordDone, reconcile.Record{Step: "roll app", Containers: []string{"demo-app-1"}})
		rec(reconcile.RecordPhase, reconcile.Record{Phase: reconcile.PhaseVerified})
		rec(reconcile.RecordEnd, reconcile.Record{Outcome: reconcile.OutcomeRotated})
	}
	recs, err := j.All()
	if err != nil {
		t.Fatal(err)
	}
	txns := groupTxns(recs)
	if len(txns) != 20 { // the last 20 (10 x the retention): 2 in full, 18 summaries; 10 folded
		t.Fatalf("%d transactions, want 20", len(txns))
	}
	for i, tx := range txns {
		if tx.Began.IsZero() || tx.Verified.IsZero() || tx.Ended.IsZero() || tx.Outcome != reconcile.OutcomeRotated ||
			tx.FromFP == "" || tx.ToFP == "" || len(tx.Revision) != 40 || tx.OpenPhase != "" {
			t.Errorf("transaction %d: %+v", i, tx)
		}
		if full := i >= 18; full != (len(tx.Rolls) == 1) {
			t.Errorf("transaction %s: rolls %+v", tx.ID, tx.Rolls)
		}
	}
	if g := lastGood(txns); g == nil || g.ID != "txn-30" {
		t.Errorf("lastGood = %+v, want txn-30", g)
	}
	var b bytes.Buffer
	printTxn(&b, txns[0].Revision, txns[0])
	for _, want := range []string{"txn-11", "rotated", "hmac:10", "hmac:11"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("history of a compacted transaction lacks %q:\n%s", want, b.String())
		}
	}
}
