package report

import (
	"errors"
	"strings"

	"github.com/rekeyhq/rekey/gitsync"
	"github.com/rekeyhq/rekey/reconcile"
)

// groupTxns folds journal records (oldest first) into transactions, in the order they began.
func groupTxns(recs []reconcile.Record) []Txn {
	var out []Txn
	index := map[string]int{}
	during := map[string]string{}
	pendingOf := map[string]int{} // old value fingerprint → the transaction that left it pending
	for _, r := range recs {
		if r.Type == reconcile.RecordRevokedSeen { // written by a later probe, outside any transaction
			if i, ok := pendingOf[r.Secret+"/"+r.FromFP]; ok {
				out[i].RevokedSeen = r.Time
			}
			continue
		}
		i, ok := index[r.Txn]
		if !ok {
			i = len(out)
			index[r.Txn] = i
			out = append(out, Txn{ID: r.Txn, Secret: r.Secret, Revision: r.Revision})
			during[r.Txn] = rollRotation
		}
		t := &out[i]
		switch r.Type {
		case reconcile.RecordBegin:
			// Later records may carry the revision of a later run (a finalize): the begin one is the
			// commit the transaction applied.
			t.Revision, t.FromFP, t.ToFP, t.Began = r.Revision, r.FromFP, r.ToFP, r.Time
			t.OpenPhase = reconcile.PhaseStarted.String()
		case reconcile.RecordPhase:
			t.OpenPhase = r.Phase.String()
			switch r.Phase {
			case reconcile.PhaseVerified:
				if t.Verified.IsZero() {
					t.Verified = r.Time
				}
				if !r.FinalizeAfter.IsZero() {
					t.FinalizeAfter = r.FinalizeAfter
				}
			case reconcile.PhaseFinalizing:
				t.Finalizing = r.Time // the last attempt is the one that counts
				during[r.Txn] = rollFinalize
			}
		case reconcile.RecordIntent:
			if r.Step == string(reconcile.StepRestore) {
				during[r.Txn] = rollRollback // a recovery after a crash, or a rollback
			}
			if r.Consumer != "" {
				t.Rolls = append(t.Rolls, Roll{Consumer: r.Consumer, Action: r.Roll, Time: r.Time, During: during[r.Txn]})
			}
		case reconcile.RecordDone:
			if n := len(t.Rolls); n > 0 && len(r.Containers) > 0 && strings.HasSuffix(r.Step, " "+t.Rolls[n-1].Consumer) {
				t.Rolls[n-1].Containers = r.Containers
			}
		case reconcile.RecordFailed:
			t.Failures = append(t.Failures, Failure{Step: r.Step, Reason: r.Reason, Time: r.Time})
			during[r.Txn] = rollRollback
		case reconcile.RecordEnd:
			t.Ended, t.Outcome, t.Reason, t.OpenPhase = r.Time, r.Outcome, r.Reason, ""
		case reconcile.RecordPending:
			t.PendingSince = r.Time
			pendingOf[r.Secret+"/"+r.FromFP] = i
		}
	}
	return out
}

// attachTxns assigns each transaction (of secret, when given) to the listed commit it applied: the commit
// of its revision, or else the newest listed commit that is an ancestor of it (the revision then only
// touched other files). Transactions of commits outside the list are left out.
func attachTxns(txns []Txn, listed []string, secret string, isAncestor func(a, d string) (bool, error)) (map[string][]Txn, error) {
	out := map[string][]Txn{}
	inList := map[string]bool{}
	for _, h := range listed {
		inList[h] = true
	}
	found := map[string]string{} // revision -> listed commit ("" when none)
	for _, t := range txns {
		if secret != "" && t.Secret != secret || t.Revision == "" {
			continue
		}
		commit, ok := found[t.Revision]
		if !ok {
			if inList[t.Revision] {
				commit = t.Revision
			} else {
				for _, h := range listed { // newest first
					yes, err := isAncestor(h, t.Revision)
					if errors.Is(err, gitsync.ErrNotFound) {
						break // a revision this repository does not have (rewritten history)
					}
					if err != nil {
						return nil, err
					}
					if yes {
						commit = h
						break
					}
				}
			}
			found[t.Revision] = commit
		}
		if commit != "" {
			out[commit] = append(out[commit], t)
		}
	}
	return out, nil
}
