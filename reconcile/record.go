package reconcile

import "time"

// RecordType is the kind of a journal record.
type RecordType string

const (
	RecordBegin  RecordType = "begin"  // a transaction starts
	RecordPhase  RecordType = "phase"  // a transaction moves to a phase (before the side effects of that phase)
	RecordIntent RecordType = "intent" // a side effect is about to happen
	RecordDone   RecordType = "done"   // a step succeeded
	RecordFailed RecordType = "failed" // a step failed
	RecordEnd    RecordType = "end"    // a transaction is over
)

// Outcome is how a transaction or a secret's reconciliation ended.
type Outcome string

const (
	OutcomeInSync         Outcome = "in-sync"
	OutcomeRotated        Outcome = "rotated"         // new value verified everywhere, old value gone
	OutcomeVerified       Outcome = "verified"        // new value verified, previous kept for its window
	OutcomeWaiting        Outcome = "waiting"         // previous kept, nothing to do yet
	OutcomeFinalized      Outcome = "finalized"       // previous value dropped after its window
	OutcomeRolledBack     Outcome = "rolled-back"     // verification failed, old value restored everywhere
	OutcomeRecovered      Outcome = "recovered"       // an interrupted transaction was rolled back
	OutcomeFinalizeFailed Outcome = "finalize-failed" // dropping previous failed; previous restored
	OutcomeFailed         Outcome = "failed"          // rollback did not complete: needs attention
	OutcomeSuperseded     Outcome = "superseded"      // a newer commit replaced a kept rotation
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
	FromFP        string     `json:"from_fp,omitempty"`
	ToFP          string     `json:"to_fp,omitempty"`
	FinalizeAfter time.Time  `json:"finalize_after,omitzero"`
	Outcome       Outcome    `json:"outcome,omitempty"`
	Reason        string     `json:"reason,omitempty"`
}

// Replay rebuilds the unfinished transaction of one secret from its records, oldest first. It returns nil
// when the last transaction ended.
func Replay(records []Record) *Txn {
	var t *Txn
	for _, r := range records {
		switch r.Type {
		case RecordBegin:
			t = &Txn{ID: r.Txn, Secret: r.Secret, Revision: r.Revision, Phase: PhaseStarted,
				FromFP: r.FromFP, ToFP: r.ToFP, Started: r.Time}
		case RecordPhase:
			if t != nil && t.ID == r.Txn {
				t.Phase = r.Phase
				if !r.FinalizeAfter.IsZero() {
					t.FinalizeAfter = r.FinalizeAfter
				}
			}
		case RecordIntent:
			if t != nil && t.ID == r.Txn && r.Consumer != "" && !contains(t.Rolled, r.Consumer) {
				t.Rolled = append(t.Rolled, r.Consumer)
			}
		case RecordEnd:
			if t != nil && t.ID == r.Txn {
				t = nil
			}
		}
	}
	return t
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
