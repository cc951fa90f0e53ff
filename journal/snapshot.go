package journal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"filippo.io/age"
	bolt "go.etcd.io/bbolt"

	"github.com/rekeyhq/rekey/reconcile"
)

// ErrNoSnapshot is wrapped by the error of Load when nothing is stashed under the transaction.
var ErrNoSnapshot = errors.New("no snapshot")

const maxKeySize = 64 << 10

var _ reconcile.Stash = (*Journal)(nil)

// Save stores data age-encrypted under txn, replacing any earlier data of txn. The data is encrypted
// in memory to a key of txn's own (created 0600 in stash-keys/ on first use, kept while the
// transaction is open so that a resume after a crash can decrypt it); only the ciphertext is written
// to journal.db.
func (j *Journal) Save(ctx context.Context, txn string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("failed to stash txn %s: %w", txn, err)
	}
	if txn == "" {
		return errors.New("failed to stash: empty transaction id")
	}
	id, err := j.stashKey(txn, true)
	if err != nil {
		return fmt.Errorf("failed to stash txn %s: %w", txn, err)
	}
	ct, err := encrypt(id.Recipient(), data)
	if err != nil {
		return fmt.Errorf("failed to stash txn %s: %w", txn, err)
	}
	if err := j.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketStash).Put([]byte(txn), ct)
	}); err != nil {
		return fmt.Errorf("failed to store the stash of txn %s: %w", txn, err)
	}
	return nil
}

// Load returns the data stashed under txn, decrypted. It fails with an error wrapping ErrNoSnapshot
// if there is none. It never creates a key: without the one it was stashed with, the data cannot be
// decrypted.
func (j *Journal) Load(ctx context.Context, txn string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("failed to load the stash of txn %s: %w", txn, err)
	}
	var ct []byte
	if err := j.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketStash).Get([]byte(txn))
		if v == nil {
			return ErrNoSnapshot
		}
		ct = bytes.Clone(v) // v is only valid inside the transaction
		return nil
	}); err != nil {
		return nil, fmt.Errorf("failed to load the stash of txn %s: %w", txn, err)
	}
	id, err := j.stashKey(txn, false)
	if errors.Is(err, fs.ErrNotExist) {
		// Stashed by an earlier version, to the one snapshot key it kept.
		if legacy, lerr := loadKey(j.legacyKeyPath()); lerr == nil {
			id, err = legacy, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("failed to load the stash of txn %s: %w", txn, err)
	}
	data, err := decrypt(id, ct)
	if err != nil {
		return nil, fmt.Errorf("failed to load the stash of txn %s: %w", txn, err)
	}
	return data, nil
}

// Drop forgets the data stashed under txn, for good: the entry is deleted, its key shredded, and the
// journal compacted so that no freed page keeps the ciphertext. Dropping a missing stash is not an
// error.
func (j *Journal) Drop(ctx context.Context, txn string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("failed to drop the stash of txn %s: %w", txn, err)
	}
	if txn == "" {
		return nil // nothing can be stored under an empty id
	}
	if err := j.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketStash)
		if b.Get([]byte(txn)) == nil {
			return nil
		}
		if err := b.Delete([]byte(txn)); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keyCompact, []byte("1"))
	}); err != nil {
		return fmt.Errorf("failed to drop the stash of txn %s: %w", txn, err)
	}
	j.mu.Lock()
	err := shred(j.stashKeyPath(txn))
	j.mu.Unlock()
	if err != nil {
		return fmt.Errorf("failed to drop the stash of txn %s: %w", txn, err)
	}
	if err := j.retireLegacyKey(); err != nil {
		return fmt.Errorf("failed to drop the stash of txn %s: %w", txn, err)
	}
	if err := j.compact(); err != nil {
		return fmt.Errorf("failed to drop the stash of txn %s: %w", txn, err)
	}
	return nil
}

func encrypt(to age.Recipient, plain []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, to)
	if err != nil {
		return nil, fmt.Errorf("failed to encrypt: %w", err)
	}
	if _, err := w.Write(plain); err != nil {
		return nil, fmt.Errorf("failed to encrypt: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("failed to encrypt: %w", err)
	}
	return buf.Bytes(), nil
}

func decrypt(id age.Identity, ct []byte) ([]byte, error) {
	r, err := age.Decrypt(bytes.NewReader(ct), id)
	if err != nil {
		return nil, fmt.Errorf("failed to decrypt: %w", err)
	}
	plain, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("failed to decrypt: %w", err)
	}
	return plain, nil
}
