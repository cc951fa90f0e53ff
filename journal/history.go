package journal

import (
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/rekeyhq/rekey/reconcile"
)

// History returns the records of one secret as Records does, except that the values its folded history
// revoked come back as a sorted set (reconcile.History.FoldedRevoked) rather than as two records each:
// after a year of rotations, those are most of a secret's records, and only the revoked-value guard reads
// them. The agent's reconciles and drift scans and `rekey status` read this; `rekey history` reads All.
func (j *Journal) History(secret string) (reconcile.History, error) {
	var h reconcile.History
	err := j.view(func(tx *bolt.Tx) error {
		f, err := readFold(tx, secret)
		if err != nil {
			return err
		}
		es, err := secretEntries(tx, secret)
		if err != nil {
			return err
		}
		h.Records = append(f.compactRecords(secret), records(es)...)
		if !slices.IsSorted(f.Revoked) { // foldOf sorts them; a hand-edited journal may not
			slices.Sort(f.Revoked)
		}
		h.FoldedRevoked = f.Revoked
		return nil
	})
	if err != nil {
		return reconcile.History{}, fmt.Errorf("failed to read the journal: %w", err)
	}
	return h, nil
}
