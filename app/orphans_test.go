package app

import (
	"context"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/journal"
	"github.com/rekeyhq/rekey/reconcile"
)

// TestRefuseOrphans: an unfinished transaction of a secret no longer declared stops apply with the
// secret, the transaction and what to do; a finished one, or one of a declared or skipped secret, does not.
func TestRefuseOrphans(t *testing.T) {
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
	if err := refuseOrphans(j, s); err != nil {
		t.Fatalf("nothing orphaned yet: %v", err)
	}
	if err := j.Record(ctx, reconcile.Record{Txn: "t4", Secret: "gone-open", Type: reconcile.RecordBegin}); err != nil {
		t.Fatal(err)
	}
	err = refuseOrphans(j, s)
	if err == nil || !strings.Contains(err.Error(), "secret gone-open has an unfinished transaction t4") ||
		!strings.Contains(err.Error(), "put its declaration back") {
		t.Fatalf("err = %v", err)
	}
}
