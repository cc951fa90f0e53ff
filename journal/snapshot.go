package journal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"filippo.io/age"
	bolt "go.etcd.io/bbolt"

	"github.com/rekeyhq/rekey/internal/fsx"
	"github.com/rekeyhq/rekey/reconcile"
)

// ErrNoSnapshot is wrapped by the error of Load when nothing is stashed under the transaction.
var ErrNoSnapshot = errors.New("no snapshot")

const maxKeySize = 64 << 10

var _ reconcile.Stash = (*Journal)(nil)

// Save stores data age-encrypted to the snapshot key under txn, replacing any earlier data of txn.
// The plaintext is encrypted in memory; only the ciphertext is written to journal.db. The key is
// created (0600) on first use.
func (j *Journal) Save(ctx context.Context, txn string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("failed to stash txn %s: %w", txn, err)
	}
	if txn == "" {
		return errors.New("failed to stash: empty transaction id")
	}
	ct, err := j.encrypt(data)
	if err != nil {
		return fmt.Errorf("failed to stash txn %s: %w", txn, err)
	}
	if err := j.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketStash).Put([]byte(txn), ct)
	}); err != nil {
		return fmt.Errorf("failed to store the stash of txn %s: %w", txn, err)
	}
	return nil
}

// Load returns the data stashed under txn, decrypted. It fails with an error wrapping ErrNoSnapshot
// if there is none. It never creates the snapshot key: without it, the data cannot be decrypted.
func (j *Journal) Load(ctx context.Context, txn string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("failed to load the stash of txn %s: %w", txn, err)
	}
	var ct []byte
	if err := j.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketStash).Get([]byte(txn))
		if v == nil {
			return ErrNoSnapshot
		}
		ct = bytes.Clone(v) // v is only valid inside the transaction
		return nil
	}); err != nil {
		return nil, fmt.Errorf("failed to load the stash of txn %s: %w", txn, err)
	}
	data, err := j.decrypt(ct)
	if err != nil {
		return nil, fmt.Errorf("failed to load the stash of txn %s: %w", txn, err)
	}
	return data, nil
}

// Drop deletes the data stashed under txn. Dropping a missing stash is not an error.
func (j *Journal) Drop(ctx context.Context, txn string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("failed to drop the stash of txn %s: %w", txn, err)
	}
	if txn == "" {
		return nil // nothing can be stored under an empty id
	}
	if err := j.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketStash).Delete([]byte(txn))
	}); err != nil {
		return fmt.Errorf("failed to drop the stash of txn %s: %w", txn, err)
	}
	return nil
}

func (j *Journal) encrypt(plain []byte) ([]byte, error) {
	id, err := j.identity(true)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, id.Recipient())
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

func (j *Journal) decrypt(ct []byte) ([]byte, error) {
	id, err := j.identity(false)
	if err != nil {
		return nil, err
	}
	r, err := age.Decrypt(bytes.NewReader(ct), id)
	if err != nil {
		return nil, fmt.Errorf("failed to decrypt with %s: %w", j.keyPath(), err)
	}
	plain, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("failed to decrypt with %s: %w", j.keyPath(), err)
	}
	return plain, nil
}

func (j *Journal) keyPath() string { return filepath.Join(j.dir, keyName) }

// identity loads the snapshot key, creating it first (0600, O_EXCL) if create is set and it is
// missing. The key file is checked on every use: it must be a regular file not accessible by group
// or other.
func (j *Journal) identity(create bool) (*age.X25519Identity, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	path := j.keyPath()
	id, err := loadKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) || !create {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("snapshot key %s is missing: stashed values cannot be decrypted: %w", path, err)
		}
		return id, err
	}
	id, err = age.GenerateX25519Identity()
	if err != nil {
		return nil, fmt.Errorf("failed to generate the snapshot key: %w", err)
	}
	content := fmt.Sprintf("# rekey snapshot key, created %s\n# public key: %s\n%s\n",
		time.Now().UTC().Format(time.RFC3339), id.Recipient(), id)
	if err := fsx.CreateFile(path, []byte(content), fileMode); err != nil {
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("failed to create the snapshot key: %w", err)
		}
		// Created meanwhile by someone else: use theirs.
		return loadKey(path)
	}
	return id, nil
}

func loadKey(path string) (*age.X25519Identity, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("failed to open the snapshot key %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("failed to stat the snapshot key %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("snapshot key %s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("snapshot key %s has mode %v, accessible by group or other: run chmod 600 %s",
			path, fi.Mode().Perm(), path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeySize))
	if err != nil {
		return nil, fmt.Errorf("failed to read the snapshot key %s: %w", path, err)
	}
	defer clear(data)
	// The parse errors of age can quote the input: never wrap them.
	ids, err := age.ParseIdentities(bytes.NewReader(data))
	if err != nil || len(ids) != 1 {
		return nil, fmt.Errorf("snapshot key %s is not a single age identity", path)
	}
	id, ok := ids[0].(*age.X25519Identity)
	if !ok {
		return nil, fmt.Errorf("snapshot key %s is not an age X25519 identity", path)
	}
	return id, nil
}
