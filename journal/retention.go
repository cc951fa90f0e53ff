package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"

	bolt "go.etcd.io/bbolt"

	"github.com/rekeyhq/rekey/reconcile"
)

// errUnreadable: a secret's records could not be read, so its history is left as it is.
var errUnreadable = errors.New("unreadable journal records")

// DefaultRetention is how many finished transactions of each secret the journal keeps in full.
const DefaultRetention = 20

// keyRetention in the meta bucket is the retention the journal was last pruned with: Open prunes every
// secret again when it changed (or when the index was just built).
var keyRetention = []byte("retention")

// WithRetention sets how many finished transactions of each secret are kept in full (default
// DefaultRetention); n <= 0 keeps everything. Older finished transactions are compacted into their
// summary records (see summaryRecord); an unfinished transaction, and a kept one, is never touched.
func WithRetention(n int) Option {
	return func(o *options) {
		o.retention = max(n, 0)
	}
}

// summaryRecord says whether r stays when its (finished) transaction is compacted. What stays is the
// transaction's summary: the begin record (commit, from and to fingerprints, start time), the phases
// from verified on (LastApplied, Replay's kept transactions, and the verified/finalizing times of
// `history`), the failures and their reasons, the end record (outcome, reason, end time), and the
// pending revocations with their sightings. What goes is the step-by-step detail: intents and
// done records, the earlier phases.
func summaryRecord(r reconcile.Record) bool {
	switch r.Type {
	case reconcile.RecordIntent, reconcile.RecordDone:
		return false
	case reconcile.RecordPhase:
		return r.Phase >= reconcile.PhaseVerified
	}
	return true
}

// pruneSecret compacts the finished transactions of secret older than its last keep finished ones, in
// tx. It returns how many records it deleted. Records outside a transaction (synced, pending and seen
// revocations) and every record of an unfinished transaction stay: replay, the revoked-value guard,
// pending revocations and drift read them.
func pruneSecret(tx *bolt.Tx, secret string, keep int) (int, error) {
	if keep <= 0 {
		return 0, nil
	}
	es, err := secretEntries(tx, secret)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errUnreadable, err)
	}
	// Finished transactions, in the order they ended.
	var finished []string
	ended := map[string]bool{}
	for _, e := range es {
		if e.rec.Type == reconcile.RecordEnd && e.rec.Txn != "" && !ended[e.rec.Txn] {
			ended[e.rec.Txn] = true
			finished = append(finished, e.rec.Txn)
		}
	}
	if len(finished) <= keep {
		return 0, nil
	}
	deleted, folded, err := foldSecret(tx, secret, es, finished, summaryFactor*keep)
	if err != nil {
		return 0, fmt.Errorf("failed to fold the history of %s: %w", secret, err)
	}
	old := map[string][]entry{}
	for _, id := range finished[:len(finished)-keep] {
		old[id] = nil
	}
	for _, e := range es {
		if list, ok := old[e.rec.Txn]; ok {
			old[e.rec.Txn] = append(list, e)
		}
	}
	for _, id := range finished[:len(finished)-keep] {
		list := old[id]
		if folded[id] || !slices.ContainsFunc(list, func(e entry) bool { return !e.packed }) {
			continue // packed already
		}
		n, err := pack(tx, secret, list)
		if err != nil {
			return deleted, fmt.Errorf("failed to compact transaction %s: %w", id, err)
		}
		deleted += n
	}
	return deleted, nil
}

// pruneAfterEnd runs in the bbolt transaction that writes an end record: the secret's older history is
// compacted at once, and the journal is marked for compaction, which the stash Drop that follows the
// end record (or else the next Open) carries out: one rewrite of journal.db per transaction.
func (j *Journal) pruneAfterEnd(tx *bolt.Tx, r reconcile.Record) error {
	if r.Type != reconcile.RecordEnd || j.retention <= 0 {
		return nil
	}
	n, err := pruneSecret(tx, r.Secret, j.retention)
	if errors.Is(err, errUnreadable) {
		return nil // the end record matters more than the pruning; Records reports the damage
	}
	if err != nil || n == 0 {
		return err
	}
	return tx.Bucket(bucketMeta).Put(keyCompact, []byte("1"))
}

// pruneAll compacts every secret's history when the retention changed since the last Open or the index
// was just built (a journal of an earlier version), and marks the journal for compaction if that deleted
// anything. It runs at Open, under the state dir lock, in one bbolt transaction.
func (j *Journal) pruneAll(force bool) error {
	want := []byte(strconv.Itoa(j.retention))
	return j.update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if !force && string(meta.Get(keyRetention)) == string(want) {
			return nil
		}
		total := 0
		for _, secret := range indexedSecrets(tx) {
			n, err := pruneSecret(tx, secret, j.retention)
			if err != nil {
				return fmt.Errorf("failed to prune the history of %s: %w", secret, err)
			}
			total += n
		}
		if total > 0 {
			if err := meta.Put(keyCompact, []byte("1")); err != nil {
				return err
			}
		}
		return meta.Put(keyRetention, want)
	})
}

func seqOf(k []byte) uint64 { return binary.BigEndian.Uint64(k) }
