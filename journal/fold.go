package journal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"

	bolt "go.etcd.io/bbolt"

	"github.com/rekeyhq/rekey/reconcile"
)

// Summaries keep a year of history readable, but they still grow with every rotation. Past the last
// summaryFactor × retention finished transactions of a secret, what is left of its history is folded into
// one value in the meta bucket, fold/<secret>: only what the readers of the journal compute from that far
// back. That is the values it revoked (the revoked-value guard holds them for ever), the value it last
// applied, and what its last rollbacks tried; each is read back as a few synthetic records, with no time
// and no revision, ahead of the secret's other records. `history` and `runbook` no longer show those
// transactions; the commits stay in Git.
const summaryFactor = 10

const foldPrefix = "fold/"

// Fold is what a secret's folded history still says.
type fold struct {
	Revoked    []string `json:"revoked,omitempty"`
	Applied    string   `json:"applied,omitempty"`
	RolledBack string   `json:"rolled_back,omitempty"`
	Reroll     string   `json:"reroll_rolled_back,omitempty"`
}

// FoldedTxn starts the transaction id of every synthetic record of a folded history.
const FoldedTxn = "folded/"

// records gives back the folded history as records that make reconcile.Revoked, LastApplied,
// LastRolledBack and LastRerollRolledBack say what they said over the history itself.
func (f fold) records(secret string) []reconcile.Record { return f.recordsFrom(secret, 0) }

// compactRecords are the records of the folded history but those of the revoked values before the last
// (History keeps those as a set): every reader but reconcile.Revoked says the same over them, since a
// revoked value's records set nothing they read and the last record (what `status` shows as the last end,
// what the rotation schedule counts from) is unchanged.
func (f fold) compactRecords(secret string) []reconcile.Record {
	return f.recordsFrom(secret, max(len(f.Revoked)-1, 0))
}

// recordsFrom gives back the folded history from its first'th revoked value on, each record with the
// transaction id it has in records.
func (f fold) recordsFrom(secret string, first int) []reconcile.Record {
	out := make([]reconcile.Record, 0, 2*(len(f.Revoked)-first)+7)
	n := first
	pair := func(from, to string, o reconcile.Outcome, verified bool) {
		id := FoldedTxn + strconv.Itoa(n)
		n++
		out = append(out, reconcile.Record{Txn: id, Secret: secret, Type: reconcile.RecordBegin, FromFP: from, ToFP: to})
		if verified {
			out = append(out, reconcile.Record{Txn: id, Secret: secret, Type: reconcile.RecordPhase, Phase: reconcile.PhaseVerified})
		}
		out = append(out, reconcile.Record{Txn: id, Secret: secret, Type: reconcile.RecordEnd, Outcome: o})
	}
	for _, fp := range f.Revoked[first:] {
		pair(fp, "", reconcile.OutcomeRotated, false)
	}
	if f.Applied != "" {
		pair("", f.Applied, reconcile.OutcomeFinalizeFailed, true)
	}
	if f.RolledBack != "" {
		pair("", f.RolledBack, reconcile.OutcomeRolledBack, false)
	}
	if f.Reroll != "" {
		pair(f.Reroll, f.Reroll, reconcile.OutcomeRolledBack, false)
	}
	return out
}

func foldOf(recs []reconcile.Record) fold {
	return fold{Revoked: slices.Sorted(maps.Keys(reconcile.Revoked(recs))), Applied: reconcile.LastApplied(recs),
		RolledBack: reconcile.LastRolledBack(recs), Reroll: reconcile.LastRerollRolledBack(recs)}
}

func readFold(tx *bolt.Tx, secret string) (fold, error) {
	var f fold
	v := tx.Bucket(bucketMeta).Get([]byte(foldPrefix + secret))
	if v == nil {
		return f, nil
	}
	if err := json.Unmarshal(v, &f); err != nil {
		return f, fmt.Errorf("failed to decode the folded history of %s: %w", secret, err)
	}
	return f, nil
}

// foldSecret folds the oldest finished transactions of secret (es, in order) past the last keep of them,
// with the synced records among them, into fold/<secret>. Only a prefix of the secret's records is folded:
// everything before the first record that must stay in place (a transaction within the window, an
// unfinished one, or one that overlaps it), so that the folded state is exactly the state of that prefix.
// Pending revocations and their sightings stay in place: nothing else reads them.
func foldSecret(tx *bolt.Tx, secret string, es []entry, finished []string, keep int) (int, map[string]bool, error) {
	if len(finished) <= keep {
		return 0, nil, nil
	}
	cand := map[string]bool{}
	for _, id := range finished[:len(finished)-keep] {
		cand[id] = true
	}
	first, last := map[string]uint64{}, map[string]uint64{}
	for _, e := range es {
		if _, ok := first[e.rec.Txn]; !ok {
			first[e.rec.Txn] = e.seq
		}
		last[e.rec.Txn] = e.seq
	}
	stay := func(e entry) bool {
		return e.rec.Type == reconcile.RecordPending || e.rec.Type == reconcile.RecordRevokedSeen
	}
	foldable := func(e entry) bool {
		return e.rec.Txn == "" && e.rec.Type == reconcile.RecordSynced || e.rec.Txn != "" && cand[e.rec.Txn]
	}
	end := ^uint64(0)
	for _, e := range es {
		if !stay(e) && !foldable(e) {
			end = e.seq
			break
		}
	}
	for changed := true; changed; { // a candidate that reaches past the end starts it
		changed = false
		for id := range cand {
			if first[id] < end && last[id] >= end {
				end, changed = first[id], true
			}
		}
	}
	folded := map[string]bool{}
	for id := range cand {
		if last[id] < end {
			folded[id] = true
		}
	}
	f, err := readFold(tx, secret)
	if err != nil {
		return 0, nil, err
	}
	prefix := f.records(secret)
	var gone []entry
	for _, e := range es {
		if e.seq < end && !stay(e) && foldable(e) {
			prefix = append(prefix, e.rec)
			gone = append(gone, e)
		}
	}
	if len(gone) == 0 {
		return 0, folded, nil
	}
	data, err := json.Marshal(foldOf(prefix))
	if err != nil {
		return 0, nil, err
	}
	if err := tx.Bucket(bucketMeta).Put([]byte(foldPrefix+secret), data); err != nil {
		return 0, nil, err
	}
	n, err := deleteEntries(tx, secret, gone)
	if err != nil {
		return 0, nil, err
	}
	// A summary (one key for all its records) may hold a pending or seen revocation beside what was
	// folded: deleting the key took it too, so it is written back as a summary of its own.
	byKey := map[uint64][]entry{}
	for _, e := range gone {
		byKey[e.key] = nil
	}
	for _, e := range es {
		if _, shared := byKey[e.key]; shared && stay(e) {
			byKey[e.key] = append(byKey[e.key], e)
		}
	}
	for _, kept := range byKey {
		if len(kept) == 0 {
			continue
		}
		if _, err := pack(tx, secret, kept); err != nil {
			return 0, nil, err
		}
		n--
	}
	return n, folded, err
}

// deleteEntries deletes where es are stored (a summary once) and their index entries.
func deleteEntries(tx *bolt.Tx, secret string, es []entry) (int, error) {
	recs, idx := tx.Bucket(bucketRecords), tx.Bucket(bucketIndex)
	done := map[uint64]bool{}
	for _, e := range es {
		if done[e.key] {
			continue
		}
		done[e.key] = true
		if err := recs.Delete(seqKey(e.key)); err != nil {
			return 0, err
		}
		if err := idx.Delete(indexKey(secret, e.key)); err != nil {
			return 0, err
		}
	}
	return len(done), nil
}

// allFolds gives back the folded history of every secret, by secret name.
func allFolds(tx *bolt.Tx) ([]reconcile.Record, error) {
	var out []reconcile.Record
	c := tx.Bucket(bucketMeta).Cursor()
	prefix := []byte(foldPrefix)
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var f fold
		if err := json.Unmarshal(v, &f); err != nil {
			return nil, fmt.Errorf("failed to decode the folded history %s: %w", k, err)
		}
		out = append(out, f.records(string(k[len(prefix):]))...)
	}
	return out, nil
}
