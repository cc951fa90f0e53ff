package report

import (
	"errors"
	"strings"
	"time"

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
		if r.Time.IsZero() {
			// A synthetic record of a history the journal folded (past its retention): it says which
			// values were revoked or applied long ago, not a transaction anyone can be shown.
			continue
		}
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
			if n := len(t.Rolls); n > 0 && len(r.Containers) > 0 && strings.HasSuffix(reconcile.StepWithoutNote(r.Step), " "+t.Rolls[n-1].Consumer) {
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

// ancestry answers where a revision sits among the listed commits.
type ancestry struct {
	isAncestor func(a, d string) (bool, error)
	// lastTouch, when set, returns the newest commit at or before rev that touches the listed paths
	// ("" when none does): one short walk back from rev instead of one walk of rev's whole history per
	// listed commit that is not its ancestor.
	lastTouch func(rev string) (hash string, when time.Time, err error)
	// cut is the committer date of the oldest listed commit when --limit cut the list short (zero
	// otherwise): a revision whose last touching commit is older has no listed ancestor.
	cut time.Time
}

// attachTxns assigns each transaction (of secret, when given) to the listed commit it applied: the commit
// of its revision, or else the newest listed commit that is an ancestor of it (the revision then only
// touched other files). Transactions of commits outside the list are left out.
func attachTxns(txns []Txn, listed []string, secret string, a ancestry) (map[string][]Txn, error) {
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
			var err error
			if commit, err = a.listedAncestor(t.Revision, listed, inList); err != nil {
				return nil, err
			}
			found[t.Revision] = commit
		}
		if commit != "" {
			out[commit] = append(out[commit], t)
		}
	}
	return out, nil
}

// listedAncestor is the listed commit rev applied: itself, or the newest listed commit that is its
// ancestor; "" if none.
func (a ancestry) listedAncestor(rev string, listed []string, inList map[string]bool) (string, error) {
	if inList[rev] {
		return rev, nil
	}
	if a.lastTouch != nil {
		// A listed ancestor of rev touches the paths: the newest such commit before rev is the one.
		h, when, err := a.lastTouch(rev)
		switch {
		case errors.Is(err, gitsync.ErrNotFound):
			return "", nil // a revision this repository does not have (rewritten history)
		case err != nil:
			return "", err
		case h == "" || inList[h]:
			return h, nil
		case !a.cut.IsZero() && when.Before(a.cut):
			return "", nil // older than every listed commit
		}
	}
	for _, h := range listed { // newest first
		yes, err := a.isAncestor(h, rev)
		if errors.Is(err, gitsync.ErrNotFound) {
			return "", nil // a revision this repository does not have (rewritten history)
		}
		if err != nil {
			return "", err
		}
		if yes {
			return h, nil
		}
	}
	return "", nil
}
