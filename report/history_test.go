package report

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/gitsync"
	"github.com/rekeyhq/rekey/reconcile"
)

func TestDiffCommit(t *testing.T) {
	tests := []struct {
		name          string
		before, after map[string]string
		root, values  bool
		want          []SecretChange
		kind          string
	}{
		{
			name:   "initial",
			after:  map[string]string{"b": "hmac:2", "a": "hmac:1"},
			root:   true,
			values: true,
			want: []SecretChange{
				{Secret: "a", Change: secretAdded, ToFP: "hmac:1"},
				{Secret: "b", Change: secretAdded, ToFP: "hmac:2"},
			},
			kind: commitInitial,
		},
		{
			name:   "one rotated",
			before: map[string]string{"a": "hmac:1", "b": "hmac:2"},
			after:  map[string]string{"a": "hmac:1", "b": "hmac:3"},
			values: true,
			want: []SecretChange{
				{Secret: "a", Change: secretSame, ToFP: "hmac:1"},
				{Secret: "b", Change: secretChanged, FromFP: "hmac:2", ToFP: "hmac:3"},
			},
			kind: commitSecrets,
		},
		{
			name:   "added and removed",
			before: map[string]string{"a": "hmac:1"},
			after:  map[string]string{"c": "hmac:9"},
			values: true,
			want: []SecretChange{
				{Secret: "a", Change: secretRemoved, FromFP: "hmac:1"},
				{Secret: "c", Change: secretAdded, ToFP: "hmac:9"},
			},
			kind: commitSecrets,
		},
		{
			name:   "re-encrypted only",
			before: map[string]string{"a": "hmac:1", "b": "hmac:2"},
			after:  map[string]string{"a": "hmac:1", "b": "hmac:2"},
			values: true,
			want: []SecretChange{
				{Secret: "a", Change: secretSame, ToFP: "hmac:1"},
				{Secret: "b", Change: secretSame, ToFP: "hmac:2"},
			},
			kind: commitEnvelope,
		},
		{
			name:   "config only",
			before: map[string]string{"a": "hmac:1"},
			after:  map[string]string{"a": "hmac:1"},
			want:   []SecretChange{{Secret: "a", Change: secretSame, ToFP: "hmac:1"}},
			kind:   commitConfig,
		},
		{
			// A secret newly declared over a value already in the file changes the desired state.
			name:   "declared in config only",
			before: map[string]string{"a": "hmac:1"},
			after:  map[string]string{"a": "hmac:1", "b": "hmac:2"},
			want: []SecretChange{
				{Secret: "a", Change: secretSame, ToFP: "hmac:1"},
				{Secret: "b", Change: secretAdded, ToFP: "hmac:2"},
			},
			kind: commitSecrets,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, kind := diffCommit(tt.before, tt.after, tt.root, tt.values)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("changes = %+v, want %+v", got, tt.want)
			}
			if kind != tt.kind {
				t.Errorf("kind = %q, want %q", kind, tt.kind)
			}
		})
	}
}

func at(sec int) time.Time { return time.Date(2026, 1, 2, 3, 4, sec, 0, time.UTC) }

func TestGroupTxns(t *testing.T) {
	recs := []reconcile.Record{
		// An app key rotated, verified, finalized in the same run.
		{Time: at(1), Txn: "t1", Secret: "s", Revision: "r1", Type: reconcile.RecordBegin, FromFP: "f0", ToFP: "f1"},
		{Time: at(2), Txn: "t1", Secret: "s", Revision: "r1", Type: reconcile.RecordIntent, Step: "snapshot x"},
		// Another secret interleaved: rolled back.
		{Time: at(3), Txn: "u1", Secret: "o", Revision: "r1", Type: reconcile.RecordBegin, FromFP: "g0", ToFP: "g1"},
		{Time: at(4), Txn: "t1", Secret: "s", Revision: "r1", Type: reconcile.RecordPhase, Phase: reconcile.PhaseRolling},
		{Time: at(5), Txn: "t1", Secret: "s", Revision: "r1", Type: reconcile.RecordIntent, Step: "recreate app", Consumer: "app", Roll: reconcile.Recreate},
		{Time: at(6), Txn: "t1", Secret: "s", Revision: "r1", Type: reconcile.RecordDone, Step: "recreate app"},
		{Time: at(7), Txn: "u1", Secret: "o", Revision: "r1", Type: reconcile.RecordIntent, Step: "restart web", Consumer: "web", Roll: reconcile.Restart},
		{Time: at(8), Txn: "u1", Secret: "o", Revision: "r1", Type: reconcile.RecordFailed, Step: "verify http", Reason: "verify http: 500"},
		{Time: at(9), Txn: "u1", Secret: "o", Revision: "r1", Type: reconcile.RecordIntent, Step: "restore"},
		{Time: at(10), Txn: "u1", Secret: "o", Revision: "r1", Type: reconcile.RecordIntent, Step: "restart web", Consumer: "web", Roll: reconcile.Restart},
		{Time: at(11), Txn: "u1", Secret: "o", Revision: "r1", Type: reconcile.RecordEnd, Outcome: reconcile.OutcomeRolledBack, Reason: "verify http: 500"},
		{Time: at(12), Txn: "t1", Secret: "s", Revision: "r1", Type: reconcile.RecordPhase, Phase: reconcile.PhaseVerified, FinalizeAfter: at(40)},
		// The finalize runs later, from a newer revision: the transaction stays with r1.
		{Time: at(41), Txn: "t1", Secret: "s", Revision: "r2", Type: reconcile.RecordPhase, Phase: reconcile.PhaseFinalizing},
		{Time: at(42), Txn: "t1", Secret: "s", Revision: "r2", Type: reconcile.RecordIntent, Step: "recreate app", Consumer: "app", Roll: reconcile.Recreate},
		{Time: at(43), Txn: "t1", Secret: "s", Revision: "r2", Type: reconcile.RecordEnd, Outcome: reconcile.OutcomeFinalized},
		// Still open.
		{Time: at(50), Txn: "t2", Secret: "s", Revision: "r3", Type: reconcile.RecordBegin, FromFP: "f1", ToFP: "f2"},
		{Time: at(51), Txn: "t2", Secret: "s", Revision: "r3", Type: reconcile.RecordPhase, Phase: reconcile.PhaseWriting},
	}
	want := []Txn{
		{
			ID: "t1", Secret: "s", Revision: "r1", FromFP: "f0", ToFP: "f1", Began: at(1),
			Rolls: []Roll{
				{Consumer: "app", Action: reconcile.Recreate, Time: at(5), During: rollRotation},
				{Consumer: "app", Action: reconcile.Recreate, Time: at(42), During: rollFinalize},
			},
			Verified: at(12), FinalizeAfter: at(40), Finalizing: at(41),
			Ended: at(43), Outcome: reconcile.OutcomeFinalized,
		},
		{
			ID: "u1", Secret: "o", Revision: "r1", FromFP: "g0", ToFP: "g1", Began: at(3),
			Rolls: []Roll{
				{Consumer: "web", Action: reconcile.Restart, Time: at(7), During: rollRotation},
				{Consumer: "web", Action: reconcile.Restart, Time: at(10), During: rollRollback},
			},
			Failures: []Failure{{Step: "verify http", Reason: "verify http: 500", Time: at(8)}},
			Ended:    at(11), Outcome: reconcile.OutcomeRolledBack, Reason: "verify http: 500",
		},
		{ID: "t2", Secret: "s", Revision: "r3", FromFP: "f1", ToFP: "f2", Began: at(50), OpenPhase: "writing"},
	}
	got := groupTxns(recs)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("groupTxns:\n got %+v\nwant %+v", got, want)
	}
}

func TestAttachTxns(t *testing.T) {
	txns := []Txn{
		{ID: "a", Secret: "s", Revision: "c2"},
		{ID: "b", Secret: "o", Revision: "c2"},
		{ID: "c", Secret: "s", Revision: "x9"}, // a later commit that touched other files only
		{ID: "d", Secret: "s", Revision: "gone"},
	}
	listed := []string{"c3", "c2", "c1"}
	// x9 descends from c2 and c1, not from c3; "gone" is not in the repository.
	ancestors := map[string][]string{"x9": {"c2", "c1"}}
	isAncestor := func(a, d string) (bool, error) {
		if d == "gone" {
			return false, errNotFoundForTest
		}
		for _, x := range ancestors[d] {
			if x == a {
				return true, nil
			}
		}
		return false, nil
	}
	got, err := attachTxns(txns, listed, "", ancestry{isAncestor: isAncestor})
	if err != nil {
		t.Fatal(err)
	}
	ids := func(ts []Txn) string {
		var s []string
		for _, t := range ts {
			s = append(s, t.ID)
		}
		return strings.Join(s, ",")
	}
	if g := ids(got["c2"]); g != "a,b,c" {
		t.Errorf("c2 got %q, want a,b,c", g)
	}
	if len(got["c3"]) != 0 || len(got["c1"]) != 0 || len(got) != 1 {
		t.Errorf("unexpected attachments: %+v", got)
	}
	got, err = attachTxns(txns, listed, "o", ancestry{isAncestor: isAncestor})
	if err != nil {
		t.Fatal(err)
	}
	if g := ids(got["c2"]); g != "b" || len(got) != 1 {
		t.Errorf("secret o: got %+v, want b on c2", got)
	}
	if _, err := attachTxns(txns, listed, "", ancestry{isAncestor: func(string, string) (bool, error) { return false, errors.New("boom") }}); err == nil {
		t.Error("an error reading the repository was ignored")
	}
}

var errNotFoundForTest = fmt.Errorf("failed to check ancestry: %w", gitsync.ErrNotFound)
