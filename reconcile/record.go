package reconcile

import (
	"slices"
	"time"
)

// RecordType is the kind of a journal record.
type RecordType string

const (
	RecordBegin  RecordType = "begin"  // a transaction starts
	RecordPhase  RecordType = "phase"  // a transaction moves to a phase (before the side effects of that phase)
	RecordIntent RecordType = "intent" // a side effect is about to happen
	RecordDone   RecordType = "done"   // a step succeeded
	RecordFailed RecordType = "failed" // a step failed
	RecordEnd    RecordType = "end"    // a transaction is over
	// RecordSynced notes that every source already held the desired value, with no transaction: from
	// then on that value counts as applied, so a later hand edit is drift, not a change from Git.
	RecordSynced RecordType = "synced"
	// RecordPending notes that the old value (FromFP) of a finished rotation still has to be revoked by hand,
	// at a provider rekey cannot drive; RecordRevokedSeen notes that it stopped logging in.
	RecordPending     RecordType = "pending-revocation"
	RecordRevokedSeen RecordType = "revocation-seen"
)

// Outcome is how a transaction or a secret's reconciliation ended.
type Outcome string

const (
	OutcomeInSync         Outcome = "in-sync"
	OutcomeRotated        Outcome = "rotated"            // new value verified everywhere, old value gone
	OutcomeVerified       Outcome = "verified"           // new value verified, previous kept for its window
	OutcomeWaiting        Outcome = "waiting"            // previous kept, nothing to do yet
	OutcomeFinalized      Outcome = "finalized"          // previous value dropped after its window
	OutcomeRolledBack     Outcome = "rolled-back"        // verification failed, old value restored everywhere
	OutcomeRecovered      Outcome = "recovered"          // an interrupted transaction was rolled back
	OutcomeFinalizeFailed Outcome = "finalize-failed"    // dropping previous failed; previous restored
	OutcomeFailed         Outcome = "failed"             // rollback did not complete: needs attention
	OutcomeSuperseded     Outcome = "superseded"         // a newer commit replaced a kept rotation
	OutcomeRefused        Outcome = "refused"            // the desired value was revoked before; nothing changed
	OutcomeHeld           Outcome = "held"               // the desired value rolled back before; not tried again
	OutcomeDrift          Outcome = "drift"              // the live value drifted from an unchanged Git: left alone
	OutcomeBlocked        Outcome = "blocked"            // a check or the begin record failed, before any change; nothing changed
	OutcomePending        Outcome = "pending-revocation" // an old credential still works at a provider rekey cannot drive
	OutcomeRevokedSeen    Outcome = "revocation-seen"    // a pending old credential no longer works
	OutcomeDeferred       Outcome = "deferred"           // waits for an undeclared secret's open transaction it overlaps; nothing changed
)

// Record is one journal entry. It never holds a value: only fingerprints.
type Record struct {
	Time          time.Time  `json:"time"`
	Txn           string     `json:"txn"`
	Secret        string     `json:"secret"`
	Revision      string     `json:"revision,omitempty"`
	Type          RecordType `json:"type"`
	Phase         Phase      `json:"phase,omitempty"`
	Step          string     `json:"step,omitempty"`
	Consumer      string     `json:"consumer,omitempty"`
	Roll          RollAction `json:"roll,omitempty"`
	Containers    []string   `json:"containers,omitempty"` // roll done: the containers now running the consumer
	FromFP        string     `json:"from_fp,omitempty"`
	ToFP          string     `json:"to_fp,omitempty"`
	FinalizeAfter time.Time  `json:"finalize_after,omitzero"`
	Outcome       Outcome    `json:"outcome,omitempty"`
	Reason        string     `json:"reason,omitempty"`
	// Footprint is what the transaction touches (begin records; footprint.go): recorded before any side
	// effect, so that the transaction can be finished or rolled back even after its secret left rekey.yaml.
	Footprint *Footprint `json:"footprint,omitempty"`
}

// Replay rebuilds the unfinished transaction of one secret from its records, oldest first. It returns nil
// when the last transaction ended. A rotation that began while an earlier one kept its previous value
// holds that one as Kept: if the new rotation rolls back, the kept one is open again.
func Replay(records []Record) *Txn {
	var t *Txn
	for _, r := range records {
		switch r.Type {
		case RecordBegin:
			nt := &Txn{ID: r.Txn, Secret: r.Secret, Revision: r.Revision, Phase: PhaseStarted,
				FromFP: r.FromFP, ToFP: r.ToFP, Started: r.Time, Footprint: r.Footprint}
			if t != nil && t.Phase >= PhaseVerified {
				nt.Kept = t
			}
			t = nt
		case RecordPhase:
			if t != nil && t.ID == r.Txn {
				t.Phase = r.Phase
				if !r.FinalizeAfter.IsZero() {
					t.FinalizeAfter = r.FinalizeAfter
				}
			}
		case RecordIntent:
			if t != nil && t.ID == r.Txn && r.Consumer != "" && !t.rolled(r.Consumer) {
				t.Rolled = append(t.Rolled, Consumer{Name: r.Consumer, Action: r.Roll})
			}
		case RecordEnd:
			t = ended(t, r)
		}
	}
	return t
}

// Revoked returns the fingerprints of values that finished rotations removed from every location, for
// one secret's records. Such a value must never be applied again: a commit bringing it back (a revert,
// a replayed old state) would resurrect a credential that was meant to be gone.
func Revoked(records []Record) map[string]bool {
	from, to := map[string]string{}, map[string]string{}
	out := map[string]bool{}
	for _, r := range records {
		switch {
		case r.Type == RecordBegin:
			from[r.Txn], to[r.Txn] = r.FromFP, r.ToFP
		case r.Type == RecordEnd && (r.Outcome == OutcomeRotated || r.Outcome == OutcomeFinalized || r.Outcome == OutcomeSuperseded):
			// A heal that only re-rolls stale consumers goes from a value to itself: nothing was retired.
			if fp := from[r.Txn]; fp != "" && fp != to[r.Txn] {
				out[fp] = true
			}
		}
	}
	return out
}

// PendingRevocations returns the fingerprints of old values that must still be revoked by hand, oldest
// first: recorded pending and not seen revoked since.
func PendingRevocations(records []Record) []string {
	var out []string
	for _, r := range records {
		switch r.Type {
		case RecordPending:
			if !slices.Contains(out, r.FromFP) {
				out = append(out, r.FromFP)
			}
		case RecordRevokedSeen:
			out = slices.DeleteFunc(out, func(fp string) bool { return fp == r.FromFP })
		}
	}
	return out
}

// LastApplied returns the fingerprint rekey last put in place for one secret: the value of the last
// transaction that verified (a later rollback happens only before that point), or of the last synced
// record, whichever came last; "" if none. Git moving away from it is a change to apply; the live value
// moving away from it while Git did not is drift.
func LastApplied(records []Record) string {
	to := map[string]string{}
	applied := ""
	for _, r := range records {
		switch {
		case r.Type == RecordBegin:
			to[r.Txn] = r.ToFP
		case r.Type == RecordPhase && r.Phase == PhaseVerified:
			applied = to[r.Txn]
		case r.Type == RecordSynced:
			applied = r.ToFP
		}
	}
	return applied
}

// LastRolledBack returns the fingerprint the last transaction of one secret tried, if it ended rolled back
// (a failed verification), and "" otherwise.
// A heal that only re-rolled stale consumers (from a value to itself) does not count: it says nothing about
// the value itself (see LastRerollRolledBack).
func LastRolledBack(records []Record) string { return lastRolledBack(records, false) }

// LastRerollRolledBack returns the fingerprint whose last heal re-roll (a transaction from a value to itself)
// rolled back, "" if it did not: stale consumers are then not re-rolled again at every reconcile.
func LastRerollRolledBack(records []Record) string { return lastRolledBack(records, true) }

func lastRolledBack(records []Record, rerolls bool) string {
	to := map[string]string{}
	last := ""
	for _, r := range records {
		if r.Txn != "" && r.Type == RecordBegin && (r.FromFP == r.ToFP) != rerolls {
			continue
		}
		fp, known := to[r.Txn]
		switch {
		case r.Type == RecordBegin:
			to[r.Txn], last = r.ToFP, ""
		case r.Type == RecordEnd && known && r.Outcome == OutcomeRolledBack:
			last = fp
		case r.Type == RecordEnd && known && fp != "":
			last = ""
		}
	}
	return last
}

// ended applies an end record: the open transaction ends (handing back a kept one it did not replace),
// or a kept transaction is superseded.
func ended(t *Txn, r Record) *Txn {
	switch {
	case t == nil:
		return nil
	case t.ID == r.Txn && t.Kept != nil && r.Outcome != OutcomeRotated:
		return t.Kept
	case t.ID == r.Txn:
		return nil
	case t.Kept != nil && t.Kept.ID == r.Txn:
		t.Kept = nil
	}
	return t
}

func (t *Txn) rolled(name string) bool {
	for _, c := range t.Rolled {
		if c.Name == name {
			return true
		}
	}
	return false
}
