package journal

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"filippo.io/age"

	"github.com/rekeyhq/rekey/internal/fsx"
)

// Every stash entry (a transaction's snapshot, a pending revocation's old value) is encrypted to an age
// identity of its own, kept in keysDir/<sha256 of the entry's name>.key. Drop shreds that file: once a
// transaction has ended, no key in the state dir opens what it stashed, even if bbolt kept the
// ciphertext in a freed page (compaction removes those too).
const (
	keysDir   = "stash-keys"
	keySuffix = ".key"
)

// stashKeyPath is the key file of the stash entry name. The name is hashed: it holds a secret's name and
// slashes, and the file name must be safe whatever it holds.
func (j *Journal) stashKeyPath(name string) string {
	sum := sha256.Sum256([]byte(name))
	return filepath.Join(j.dir, keysDir, hex.EncodeToString(sum[:])+keySuffix)
}

// legacyKeyPath is the one snapshot key of earlier versions, kept only while a stash entry written by
// them still needs it.
func (j *Journal) legacyKeyPath() string { return filepath.Join(j.dir, keyName) }

// stashKey returns the identity of the stash entry name, creating it (0600, O_EXCL) when create is set
// and it is missing.
func (j *Journal) stashKey(name string, create bool) (*age.X25519Identity, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	path := j.stashKeyPath(name)
	id, err := loadKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) || !create {
		return id, err
	}
	if err := prepareKeysDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	id, err = age.GenerateX25519Identity()
	if err != nil {
		return nil, fmt.Errorf("failed to generate a stash key: %w", err)
	}
	content := fmt.Sprintf("# rekey stash key of one transaction, created %s: shredded when it ends\n%s\n",
		time.Now().UTC().Format(time.RFC3339), id)
	if err := fsx.CreateFile(path, []byte(content), fileMode); err != nil {
		return nil, fmt.Errorf("failed to create the stash key: %w", err)
	}
	return id, nil
}

// prepareKeysDir creates the key directory 0700 if missing and refuses anything but a directory there.
func prepareKeysDir(dir string) error {
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.Mkdir(dir, dirMode); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("failed to create %s: %w", dir, err)
		}
		if err := os.Chmod(dir, dirMode); err != nil { // the umask can only have removed bits
			return fmt.Errorf("failed to set mode %v on %s: %w", dirMode, dir, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("failed to stat %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s has mode %v, accessible by group or other: run chmod 700 %s", dir, fi.Mode().Perm(), dir)
	}
	return nil
}

// stashKeyFiles lists the key files in the key directory (none if it does not exist).
func (j *Journal) stashKeyFiles() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(j.dir, keysDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to list the stash keys: %w", err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), keySuffix) {
			out = append(out, filepath.Join(j.dir, keysDir, e.Name()))
		}
	}
	return out, nil
}

// shred destroys a key file: its bytes are overwritten with zeros and synced before it is unlinked, so
// that the key is gone from the file system's view and, on a file system that overwrites in place, from
// the disk. A missing file is not an error.
func shred(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil && !errors.Is(err, syscall.ELOOP) {
		return fmt.Errorf("failed to open %s to shred it: %w", path, err)
	}
	if err == nil {
		werr := zeroFile(f)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return fmt.Errorf("failed to shred %s: %w", path, werr)
		}
	}
	// A symlink (ELOOP) is not followed: only the link itself is removed.
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("failed to remove %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

func zeroFile(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return nil // nothing of ours to overwrite; it is removed all the same
	}
	if _, err := f.WriteAt(make([]byte, fi.Size()), 0); err != nil {
		return err
	}
	return f.Sync()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("failed to open %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("failed to sync %s: %w", dir, err)
	}
	return nil
}

// loadKey reads one age X25519 identity from path: a regular file, not a symlink, not accessible by
// group or other. A missing file gives an error wrapping fs.ErrNotExist.
func loadKey(path string) (*age.X25519Identity, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("stash key %s is missing: the values stashed with it cannot be decrypted: %w", path, err)
		}
		return nil, fmt.Errorf("failed to open the stash key %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("failed to stat the stash key %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("stash key %s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("stash key %s has mode %v, accessible by group or other: run chmod 600 %s",
			path, fi.Mode().Perm(), path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeySize))
	if err != nil {
		return nil, fmt.Errorf("failed to read the stash key %s: %w", path, err)
	}
	defer clear(data)
	// The parse errors of age can quote the input: never wrap them.
	ids, err := age.ParseIdentities(bytes.NewReader(data))
	if err != nil || len(ids) != 1 {
		return nil, fmt.Errorf("stash key %s is not a single age identity", path)
	}
	id, ok := ids[0].(*age.X25519Identity)
	if !ok {
		return nil, fmt.Errorf("stash key %s is not an age X25519 identity", path)
	}
	return id, nil
}
