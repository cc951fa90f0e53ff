package journal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// The records bucket is in write order for every secret at once; a run only needs the records of the
// secrets it reconciles. The index bucket lists, per secret, the sequence numbers of its records:
//
//	index   bucket: <secret> 0x00 <big-endian uint64 sequence> -> empty
//
// It is written in the same bbolt transaction as the record, so the two never disagree. Journals written
// before the index existed are indexed once, at Open (keyLayout says it was done).
var (
	bucketIndex = []byte("index")
	keyLayout   = []byte("layout")
	layoutIndex = []byte("2") // records are indexed by secret
)

// indexKey is the index entry of record seq of secret. Secret names never hold a NUL (config refuses
// anything but a name), so the prefix of one secret is never the prefix of another.
func indexKey(secret string, seq uint64) []byte {
	k := make([]byte, 0, len(secret)+9)
	k = append(k, secret...)
	k = append(k, 0)
	return append(k, seqKey(seq)...)
}

func indexPrefix(secret string) []byte { return append([]byte(secret), 0) }

// migrateIndex indexes every record of a journal written without the index. It runs at Open, under the
// state dir lock, in one bbolt transaction: a crash leaves the journal as it was.
func (j *Journal) migrateIndex() (bool, error) {
	migrated := false
	err := j.update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if bytes.Equal(meta.Get(keyLayout), layoutIndex) {
			return nil
		}
		var keys [][]byte
		err := tx.Bucket(bucketRecords).ForEach(func(k, v []byte) error {
			var r struct {
				Secret string `json:"secret"`
			}
			if len(v) > 0 && v[0] == packedMark { // no summary before the index; refuse to guess
				return fmt.Errorf("journal record %x is a summary in a journal without an index", k)
			}
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("failed to decode journal record %x: %w", k, err)
			}
			keys = append(keys, append(indexPrefix(r.Secret), k...))
			return nil
		})
		if err != nil {
			return err
		}
		// In key order: bbolt inserts into a sorted slice, and inserting each secret's keys among the
		// others' moved them all every time (minutes for a year of records).
		slices.SortFunc(keys, bytes.Compare)
		idx := tx.Bucket(bucketIndex)
		for _, k := range keys {
			if err := idx.Put(k, nil); err != nil {
				return err
			}
		}
		migrated = true
		return meta.Put(keyLayout, layoutIndex)
	})
	if err != nil {
		return false, fmt.Errorf("failed to index the journal: %w", err)
	}
	return migrated, nil
}

// secretEntries reads the records of secret through the index, oldest first.
func secretEntries(tx *bolt.Tx, secret string) ([]entry, error) {
	var out []entry
	packed := false
	recs := tx.Bucket(bucketRecords)
	prefix := indexPrefix(secret)
	c := tx.Bucket(bucketIndex).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		sk := k[len(prefix):]
		v := recs.Get(sk)
		if v == nil {
			return nil, fmt.Errorf("journal index of %s names record %x, which is missing", secret, sk)
		}
		packed = packed || len(v) > 0 && v[0] == packedMark
		var err error
		if out, err = decodeEntries(out, sk, v); err != nil {
			return nil, err
		}
	}
	sortEntries(out, packed)
	return out, nil
}

// indexedSecrets lists the secrets that have records, in name order.
func indexedSecrets(tx *bolt.Tx) []string {
	var out []string
	c := tx.Bucket(bucketIndex).Cursor()
	for k, _ := c.First(); k != nil; {
		i := bytes.IndexByte(k, 0)
		if i < 0 {
			k, _ = c.Next()
			continue
		}
		name := string(k[:i])
		out = append(out, name)
		// Skip to the first key after every key of this secret.
		k, _ = c.Seek(append([]byte(name), 1))
	}
	return out
}

// Secrets lists the secrets the journal has records of, in name order, without reading any record: a
// caller that needs every secret's records one by one (the orphan check of apply, the drift scan) can
// read them with Records instead of All.
func (j *Journal) Secrets() ([]string, error) {
	var out []string
	err := j.view(func(tx *bolt.Tx) error {
		out = indexedSecrets(tx)
		c := tx.Bucket(bucketMeta).Cursor()
		prefix := []byte(foldPrefix)
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if name := string(k[len(prefix):]); !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("failed to read the journal: %w", err)
	}
	slices.Sort(out)
	return out, nil
}
