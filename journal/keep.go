package journal

import (
	"strconv"

	bolt "go.etcd.io/bbolt"
)

// retentionUnset: Open was given no WithRetention. The journal then keeps the retention it was last
// pruned with, so that a command that only looks (status, history) never re-prunes a journal the agent
// keeps longer (its --journal-retention); a new journal gets DefaultRetention.
const retentionUnset = -1

// storedRetention is the retention the journal was last pruned with, DefaultRetention when none is
// recorded or it cannot be read.
func (j *Journal) storedRetention() int {
	n := DefaultRetention
	_ = j.view(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return nil
		}
		if v, err := strconv.Atoi(string(meta.Get(keyRetention))); err == nil && v >= 0 {
			n = v
		}
		return nil
	})
	return n
}

// Retention is how many finished transactions of each secret this journal keeps in full (0: all).
func (j *Journal) Retention() int { return j.retention }
