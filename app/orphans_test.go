package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/internal/redact"
	"github.com/rekeyhq/rekey/journal"
	"github.com/rekeyhq/rekey/reconcile"
)

// TestTakeOrphansRefusesOldJournals: an unfinished transaction of a secret no longer declared stops apply with the
// secret, the transaction and what to do; a finished one, or one of a declared or skipped secret, does not.
func TestTakeOrphansRefusesOldJournals(t *testing.T) {
	ctx := context.Background()
	j, err := journal.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for _, r := range []reconcile.Record{
		{Txn: "t1", Secret: "gone-done", Type: reconcile.RecordBegin},
		{Txn: "t1", Secret: "gone-done", Type: reconcile.RecordEnd, Outcome: reconcile.OutcomeRotated},
		{Txn: "t2", Secret: "kept", Type: reconcile.RecordBegin},
		{Txn: "t3", Secret: "skipped", Type: reconcile.RecordBegin},
	} {
		if err := j.Record(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	s := &Session{Desired: reconcile.Desired{Secrets: []reconcile.Secret{{Name: "kept"}}}, Skipped: []Skipped{{Name: "skipped"}}}
	if err := takeOrphans(j, s); err != nil {
		t.Fatalf("nothing orphaned yet: %v", err)
	}
	if err := j.Record(ctx, reconcile.Record{Txn: "t4", Secret: "gone-open", Type: reconcile.RecordBegin}); err != nil {
		t.Fatal(err)
	}
	err = takeOrphans(j, s)
	if err == nil || !strings.Contains(err.Error(), "secret gone-open has an unfinished transaction t4") ||
		!strings.Contains(err.Error(), "put its declaration back") {
		t.Fatalf("err = %v", err)
	}
}

// TestTakeOrphansHandsOnThoseWithAFootprint: an undeclared secret whose open transaction recorded its
// footprint (through the real journal) no longer stops apply: it goes to the planner as an orphan, and
// the orphan observer shows its transaction, read again at every round. One whose kept transaction has no
// footprint is still refused.
func TestTakeOrphansHandsOnThoseWithAFootprint(t *testing.T) {
	ctx := context.Background()
	j, err := journal.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	fp := &reconcile.Footprint{Kind: reconcile.KindToken, Current: []reconcile.FootprintLocation{{Path: "/srv/.env", Key: "TOKEN"}}}
	for _, r := range []reconcile.Record{
		{Txn: "t1", Secret: "renamed", Type: reconcile.RecordBegin, Footprint: fp},
		{Txn: "t1", Secret: "renamed", Type: reconcile.RecordPhase, Phase: reconcile.PhaseRolling},
	} {
		if err := j.Record(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	s := &Session{Desired: reconcile.Desired{Secrets: []reconcile.Secret{{Name: "kept"}}}}
	if err := takeOrphans(j, s); err != nil {
		t.Fatalf("an orphan with a footprint refused: %v", err)
	}
	if len(s.Desired.Orphans) != 1 || s.Desired.Orphans[0] != "renamed" {
		t.Fatalf("orphans = %v, want [renamed]", s.Desired.Orphans)
	}
	obs := orphanObserver{Observer: emptyObserver{}, Journal: j}
	o, err := obs.Observe(ctx, s.Desired)
	if err != nil {
		t.Fatal(err)
	}
	txn := o.Secrets["renamed"].Txn
	if txn == nil || txn.Phase != reconcile.PhaseRolling || txn.Footprint == nil || txn.Footprint.Current[0].Key != "TOKEN" {
		t.Fatalf("observed orphan txn %+v: want rolling, with its footprint", txn)
	}
	if err := j.Record(ctx, reconcile.Record{Txn: "t1", Secret: "renamed", Type: reconcile.RecordEnd, Outcome: reconcile.OutcomeRecovered}); err != nil {
		t.Fatal(err)
	}
	if o, _ = obs.Observe(ctx, s.Desired); o.Secrets["renamed"].Txn != nil {
		t.Fatal("the orphan's ended transaction is still observed open")
	}

	// A verified rotation of an older rekey, superseded by a newer one that then rolls back, is open again.
	for _, r := range []reconcile.Record{
		{Txn: "k1", Secret: "old-kept", Type: reconcile.RecordBegin},
		{Txn: "k1", Secret: "old-kept", Type: reconcile.RecordPhase, Phase: reconcile.PhaseVerified},
		{Txn: "k2", Secret: "old-kept", Type: reconcile.RecordBegin, Footprint: fp},
	} {
		if err := j.Record(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	err = takeOrphans(j, s)
	if err == nil || !strings.Contains(err.Error(), "secret old-kept has an unfinished transaction k1") ||
		!strings.Contains(err.Error(), "put its declaration back") {
		t.Fatalf("err = %v", err)
	}
}

type emptyObserver struct{}

func (emptyObserver) Observe(context.Context, reconcile.Desired) (reconcile.Observed, error) {
	return reconcile.Observed{}, nil
}

// TestTakeOrphansRedactsTheirLiveValues: the values at an orphan's locations are no declared secret's,
// so reading the desired state did not give them to the redactor; taking the orphan does, before its
// rollback or finish quotes one in an error or a log.
func TestTakeOrphansRedactsTheirLiveValues(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	env := filepath.Join(dir, ".env")
	if err := os.WriteFile(env, []byte("TOKEN=orphan-new-value\nOTHER=x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	j, err := journal.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	fp := &reconcile.Footprint{Kind: reconcile.KindToken, Current: []reconcile.FootprintLocation{{Path: env, Key: "TOKEN"}}}
	if err := j.Record(ctx, reconcile.Record{Txn: "t1", Secret: "gone", Type: reconcile.RecordBegin, Footprint: fp}); err != nil {
		t.Fatal(err)
	}
	s := &Session{redacted: []string{"declared-value"}}
	s.Redact = redact.New(s.redacted...)
	if err := takeOrphans(j, s); err != nil {
		t.Fatal(err)
	}
	got := s.Redact.String("stage failed: orphan-new-value, declared-value")
	if strings.Contains(got, "orphan-new-value") || strings.Contains(got, "declared-value") {
		t.Errorf("redacted: %q, want both values hidden", got)
	}
}
