package journal

import (
	"bytes"
	"context"
	"encoding/json"
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
)

// ErrNoSnapshot is wrapped by the errors of Restore and Blob when there is nothing stored.
var ErrNoSnapshot = errors.New("no snapshot")

const (
	keyFiles   = "files"
	blobPrefix = "blob/"

	maxKeySize = 64 << 10
)

// snapFile is one file of a snapshot. It is only ever written encrypted.
type snapFile struct {
	Path string      `json:"path"`
	Mode os.FileMode `json:"mode"`
	Data []byte      `json:"data"`
}

type snapManifest struct {
	Version int        `json:"version"`
	Files   []snapFile `json:"files"`
}

// Snapshot reads files and stores them, with their absolute paths and modes, age-encrypted to the
// snapshot key under txn, replacing the files of any earlier snapshot of txn in one transaction.
// Blobs stored with SnapshotBlob are kept.
func (j *Journal) Snapshot(ctx context.Context, txn string, files []string) error {
	if txn == "" {
		return errors.New("failed to snapshot: empty transaction id")
	}
	m := snapManifest{Version: 1}
	seen := map[string]bool{}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("failed to snapshot txn %s: %w", txn, err)
		}
		abs, err := filepath.Abs(f)
		if err != nil {
			return fmt.Errorf("failed to snapshot %s: %w", f, err)
		}
		if seen[abs] {
			continue
		}
		seen[abs] = true
		sf, err := readSnapFile(abs)
		if err != nil {
			return err
		}
		m.Files = append(m.Files, sf)
	}
	plain, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("failed to encode the snapshot of txn %s: %w", txn, err)
	}
	defer clear(plain)
	ct, err := j.encrypt(plain)
	if err != nil {
		return fmt.Errorf("failed to snapshot txn %s: %w", txn, err)
	}
	if err := j.put(txn, keyFiles, ct); err != nil {
		return fmt.Errorf("failed to store the snapshot of txn %s: %w", txn, err)
	}
	return nil
}

func readSnapFile(path string) (snapFile, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return snapFile{}, fmt.Errorf("failed to open %s for a snapshot: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return snapFile{}, fmt.Errorf("failed to stat %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return snapFile{}, fmt.Errorf("failed to snapshot %s: not a regular file", path)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return snapFile{}, fmt.Errorf("failed to read %s: %w", path, err)
	}
	return snapFile{Path: path, Mode: fi.Mode().Perm(), Data: data}, nil
}

// Restore writes every file of txn's snapshot back in place (same inode: open without O_TRUNC,
// write, truncate, fsync), skipping files whose content is already the snapshot's. A file that no
// longer exists is created again with its snapshot mode. It restores as many files as it can and
// returns the errors of the others; it fails with ErrNoSnapshot if txn has no snapshot.
func (j *Journal) Restore(ctx context.Context, txn string) error {
	ct, err := j.get(txn, keyFiles)
	if err != nil {
		return fmt.Errorf("failed to restore txn %s: %w", txn, err)
	}
	plain, err := j.decrypt(ct)
	if err != nil {
		return fmt.Errorf("failed to restore txn %s: %w", txn, err)
	}
	defer clear(plain)
	var m snapManifest
	if err := json.Unmarshal(plain, &m); err != nil {
		return fmt.Errorf("failed to restore txn %s: the snapshot is corrupt", txn)
	}
	defer func() {
		for _, f := range m.Files {
			clear(f.Data)
		}
	}()
	var errs []error
	for _, f := range m.Files {
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("failed to restore txn %s: %w", txn, err))
			break
		}
		if err := restoreFile(f); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func restoreFile(f snapFile) error {
	cur, err := os.ReadFile(f.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		mode := f.Mode.Perm()
		if mode == 0 {
			mode = fileMode
		}
		if err := fsx.CreateFile(f.Path, f.Data, mode); err != nil {
			return fmt.Errorf("failed to restore %s: %w", f.Path, err)
		}
		return nil
	case err == nil && bytes.Equal(cur, f.Data):
		clear(cur)
		return nil
	}
	clear(cur)
	if err := fsx.WriteInPlace(f.Path, f.Data); err != nil {
		return fmt.Errorf("failed to restore %s: %w", f.Path, err)
	}
	return nil
}

// SnapshotBlob stores data age-encrypted under txn and name, replacing any earlier blob of that
// name. It is for extra material a rollback needs, such as the rendered compose config.
func (j *Journal) SnapshotBlob(txn, name string, data []byte) error {
	if txn == "" || name == "" {
		return errors.New("failed to store a blob: empty transaction id or name")
	}
	ct, err := j.encrypt(data)
	if err != nil {
		return fmt.Errorf("failed to store blob %s of txn %s: %w", name, txn, err)
	}
	if err := j.put(txn, blobPrefix+name, ct); err != nil {
		return fmt.Errorf("failed to store blob %s of txn %s: %w", name, txn, err)
	}
	return nil
}

// Blob returns the blob stored under txn and name, decrypted. It fails with ErrNoSnapshot if there
// is none.
func (j *Journal) Blob(txn, name string) ([]byte, error) {
	ct, err := j.get(txn, blobPrefix+name)
	if err != nil {
		return nil, fmt.Errorf("failed to read blob %s of txn %s: %w", name, txn, err)
	}
	data, err := j.decrypt(ct)
	if err != nil {
		return nil, fmt.Errorf("failed to read blob %s of txn %s: %w", name, txn, err)
	}
	return data, nil
}

// DropSnapshot deletes everything stored under txn (files and blobs). Dropping a missing snapshot
// is not an error.
func (j *Journal) DropSnapshot(txn string) error {
	err := j.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSnapshots)
		if b.Bucket([]byte(txn)) == nil {
			return nil
		}
		return b.DeleteBucket([]byte(txn))
	})
	if err != nil {
		return fmt.Errorf("failed to drop the snapshot of txn %s: %w", txn, err)
	}
	return nil
}

func (j *Journal) put(txn, key string, value []byte) error {
	return j.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.Bucket(bucketSnapshots).CreateBucketIfNotExists([]byte(txn))
		if err != nil {
			return err
		}
		return b.Put([]byte(key), value)
	})
}

// get returns a copy of the value at txn/key, or an error wrapping ErrNoSnapshot.
func (j *Journal) get(txn, key string) ([]byte, error) {
	var out []byte
	err := j.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSnapshots).Bucket([]byte(txn))
		if b == nil {
			return ErrNoSnapshot
		}
		v := b.Get([]byte(key))
		if v == nil {
			return ErrNoSnapshot
		}
		out = bytes.Clone(v)
		return nil
	})
	return out, err
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
			return nil, fmt.Errorf("snapshot key %s is missing: snapshots cannot be decrypted: %w", path, err)
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
