package journal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/rekeyhq/rekey/internal/fsx"
)

// keyCompact in the meta bucket says that a stash entry was deleted since the last compaction: bbolt
// keeps deleted data in freed pages of journal.db until they are reused, so the file must be rewritten.
// It is set in the same bbolt transaction as the delete, so a crash before the compaction leaves it for
// the next Open.
var keyCompact = []byte("compact-pending")

const compactSuffix = ".compact"

// compact rewrites journal.db without its freed pages when keyCompact is set: bbolt.Compact copies the
// live data into a new file (created 0600 with fsx.CreateFile), which is synced and renamed over
// journal.db, then the old file is closed. The state dir lock held since Open keeps every other rekey
// process out meanwhile.
func (j *Journal) compact() (err error) {
	j.dbMu.Lock()
	defer j.dbMu.Unlock()
	var pending bool
	if err := j.db.View(func(tx *bolt.Tx) error {
		pending = tx.Bucket(bucketMeta).Get(keyCompact) != nil
		return nil
	}); err != nil || !pending {
		return err
	}
	path := filepath.Join(j.dir, dbName)
	tmp := path + compactSuffix
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("failed to remove the leftover %s: %w", tmp, err)
	}
	if err := fsx.CreateFile(tmp, nil, fileMode); err != nil {
		return fmt.Errorf("failed to compact the journal: %w", err)
	}
	dst, err := bolt.Open(tmp, fileMode, &bolt.Options{Timeout: time.Millisecond})
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("failed to compact the journal into %s: %w", tmp, err)
	}
	swapped := false
	defer func() {
		if err != nil && !swapped {
			_ = dst.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err := bolt.Compact(dst, j.db, 0); err != nil {
		return fmt.Errorf("failed to compact the journal into %s: %w", tmp, err)
	}
	if err := dst.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(keyCompact) }); err != nil {
		return fmt.Errorf("failed to compact the journal into %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("failed to replace %s with its compacted copy: %w", path, err)
	}
	// From the rename on, journal.db is the compacted file: write there, whatever fails next (records
	// written to the old, unlinked file would be lost at Close).
	old := j.db
	j.db, swapped = dst, true
	if err := old.Close(); err != nil {
		return fmt.Errorf("failed to close the journal before compaction: %w", err)
	}
	if err := syncDir(j.dir); err != nil {
		return fmt.Errorf("failed to compact the journal: %w", err)
	}
	return nil
}

// sweep runs at Open, under the state dir lock: it drops the stash of transactions that ended (a crash
// between the end record and the Drop), shreds the key files no stash entry needs any more
// (a crash between the delete of an entry and the shredding of its key, or between the creation of a
// key and the save that needed it), retires the snapshot key of earlier versions once nothing needs it,
// and finishes a compaction a crash interrupted.
func (j *Journal) sweep() error {
	if err := j.dropEnded(); err != nil {
		return err
	}
	live := map[string]bool{}
	if err := j.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketStash).ForEach(func(k, _ []byte) error {
			live[j.stashKeyPath(string(k))] = true
			return nil
		})
	}); err != nil {
		return fmt.Errorf("failed to read the stash: %w", err)
	}
	files, err := j.stashKeyFiles()
	if err != nil {
		return err
	}
	for _, f := range files {
		if live[f] {
			continue
		}
		if err := shred(f); err != nil {
			return err
		}
	}
	if err := j.retireLegacyKey(); err != nil {
		return err
	}
	return j.compact()
}

// retireLegacyKey shreds the snapshot key of earlier versions once every stash entry has a key of its
// own, and asks for a compaction: the freed pages may still hold what was encrypted to it.
func (j *Journal) retireLegacyKey() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	legacy := j.legacyKeyPath()
	if _, err := os.Lstat(legacy); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	needed := false
	if err := j.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketStash).ForEach(func(k, _ []byte) error {
			if _, err := os.Lstat(j.stashKeyPath(string(k))); errors.Is(err, fs.ErrNotExist) {
				needed = true
			}
			return nil
		})
	}); err != nil {
		return fmt.Errorf("failed to read the stash: %w", err)
	}
	if needed {
		return nil
	}
	if err := j.update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyCompact, []byte("1")) }); err != nil {
		return fmt.Errorf("failed to mark the journal for compaction: %w", err)
	}
	return shred(legacy)
}
