package journal

import (
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/rekeyhq/rekey/reconcile"
)

// dropEnded deletes the stash of every transaction the journal shows ended. The executor drops a
// transaction's stash right after its end record, but a kill -9 or a failed Drop in between would leave
// the snapshot, and its key, in the state dir for good; sweep then shreds the keys and compacts. The
// records are read only when the stash holds a transaction's entry, which is rare: during a
// transaction, or after such a crash.
func (j *Journal) dropEnded() error {
	var txns []string
	if err := j.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketStash).ForEach(func(k, _ []byte) error {
			if !strings.HasPrefix(string(k), "pending/") { // a pending revocation lives until a probe
				txns = append(txns, string(k))
			}
			return nil
		})
	}); err != nil || len(txns) == 0 {
		return err
	}
	records, err := j.All()
	if err != nil {
		return fmt.Errorf("failed to read the journal for ended transactions: %w", err)
	}
	ended := map[string]bool{}
	for _, r := range records {
		if r.Type == reconcile.RecordEnd {
			ended[r.Txn] = true
		}
	}
	return j.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketStash)
		for _, t := range txns {
			if !ended[t] {
				continue
			}
			if err := b.Delete([]byte(t)); err != nil {
				return err
			}
			if err := tx.Bucket(bucketMeta).Put(keyCompact, []byte("1")); err != nil {
				return err
			}
		}
		return nil
	})
}
