package fsx

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// WriteInPlace is WriteInPlaceAt with no root: only the file itself must not be a symlink.
func WriteInPlace(path string, data []byte) error {
	return WriteInPlaceAt("", path, data)
}

// WriteInPlaceAt replaces the content of the existing regular file at path with data, keeping its
// inode, mode and owner. It opens the file as OpenTarget does (no symlink below root, a regular file
// checked on the descriptor), proves that the filesystem has room for data before the first byte is
// written, then writes data from offset 0, truncates the file to len(data) and fsyncs it. It fails if
// the file does not exist.
//
// Proving the space first is what keeps a full disk from destroying the file: writing from offset 0
// and failing with ENOSPC half-way would leave the new head on the old tail. The write is still not
// atomic (a concurrent reader may see a mix, a crash may leave one): callers keep a snapshot of the
// whole file to restore from.
func WriteInPlaceAt(root, path string, data []byte) (err error) {
	f, err := OpenTarget(root, path, os.O_WRONLY)
	if err != nil {
		return fmt.Errorf("failed to write %s in place: %w", path, err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("failed to close %s: %w", path, cerr)
		}
	}()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("failed to stat %s: %w", path, err)
	}
	if err := proveSpace(f, path, len(data), fi.Size()); err != nil {
		return err
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	if err := f.Truncate(int64(len(data))); err != nil {
		return fmt.Errorf("failed to truncate %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("failed to sync %s: %w", path, err)
	}
	return nil
}

// Filesystems on which overwriting a block allocates a new one.
const (
	zfsSuperMagic      = 0x2fc12fc1
	bcachefsSuperMagic = 0xca451a4e
)

// proveSpace makes sure that n bytes can be written over the file f of size bytes. On a filesystem that
// overwrites in place, only growth needs new blocks: they are allocated with fallocate (KEEP_SIZE, so
// that a failure leaves the file's size and content as they were, and a success reserves the blocks the
// write then fills). Where fallocate is not supported, and on copy-on-write filesystems (btrfs, zfs,
// bcachefs), where every overwritten block needs a new one, n bytes are written to a sibling file in the
// same directory, synced and removed: random bytes, so that no value reaches the disk twice and
// compression cannot make the proof smaller than the write.
func proveSpace(f *os.File, path string, n int, size int64) error {
	cow := copyOnWrite(f)
	if n == 0 || !cow && int64(n) <= size {
		return nil
	}
	if !cow {
		err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_KEEP_SIZE, 0, int64(n))
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.ENOSYS) {
			return noSpace(path, n, err)
		}
	}
	return proveBySibling(path, n)
}

func copyOnWrite(f *os.File) bool {
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil {
		return false
	}
	switch uint32(st.Type) {
	case unix.BTRFS_SUPER_MAGIC, zfsSuperMagic, bcachefsSuperMagic:
		return true
	}
	return false
}

func noSpace(path string, n int, err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("no room to write %s (%d bytes) on its filesystem: free some space and retry; the file was not changed: %w", path, n, err)
	}
	return fmt.Errorf("failed to reserve %d bytes for %s; the file was not changed: %w", n, path, err)
}

// proveBySibling writes n random bytes to a new file beside path, syncs and removes it.
func proveBySibling(path string, n int) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp := filepath.Join(dir, fmt.Sprintf(".%s.rekey-space-%016x", base, rand.Uint64()))
	f, err := createExact(tmp, 0o600)
	if err != nil {
		return fmt.Errorf("failed to check the free space for %s: %w", path, err)
	}
	defer os.Remove(tmp)
	buf := make([]byte, min(n, 1<<20))
	var rng rand.ChaCha8
	for left := n; left > 0; left -= len(buf) {
		_, _ = rng.Read(buf)
		if _, err := f.Write(buf[:min(left, len(buf))]); err != nil {
			f.Close()
			return noSpace(path, n, err)
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return noSpace(path, n, err)
	}
	return f.Close()
}
