// Package fsx writes files in place and creates files with their final mode.
//
// Files the stack reads (.env, env files, secret files, host files) are
// written in place with WriteInPlace: same inode, because a single-file bind
// mount follows the inode, and a rename would leave the container looking at
// the old file. rekey's own files are replaced atomically with
// WriteFileAtomic. New files are created with CreateFile, which never lets a
// file hold data under a mode other than the one asked for.
//
// Error messages name the path, never the data.
package fsx

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"unsafe"
)

// CreateFile creates path, which must not exist (O_CREATE|O_EXCL), holding
// data and with exactly the permission bits perm, then fsyncs the file and
// its directory. On failure it removes the file it created.
//
// The umask is not touched (it is process-wide, so changing it would race
// with other goroutines). The file is opened with perm, so the umask can only
// leave it with fewer bits than perm, never more. If it did remove bits,
// CreateFile sets perm on the open descriptor (fchmod, no path lookup)
// before writing any byte, so at no moment does the file hold data under a
// mode other than perm, nor is it ever more open than perm.
func CreateFile(path string, data []byte, perm os.FileMode) error {
	f, err := createExact(path, perm)
	if err != nil {
		return err
	}
	if err := writeSyncClose(f, path, data); err != nil {
		_ = os.Remove(path)
		return err
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return err
	}
	return nil
}

// WriteFileAtomic replaces path with a file holding data and mode perm: it
// writes a temporary file created with perm in the same directory, fsyncs
// it, renames it over path and fsyncs the directory. Readers see the old or
// the new content, never a mix. It is for rekey's own files only: a rename
// gives path a new inode, which a single-file bind mount does not follow.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	var f *os.File
	var tmp string
	for range 10 {
		var suffix [8]byte
		_, _ = rand.Read(suffix[:])
		tmp = filepath.Join(dir, "."+base+".tmp-"+hex.EncodeToString(suffix[:]))
		var err error
		f, err = createExact(tmp, perm)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("failed to write %s: %w", path, err)
		}
	}
	if f == nil {
		return fmt.Errorf("failed to write %s: could not create a temporary file", path)
	}
	if err := writeSyncClose(f, tmp, data); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("failed to replace %s: %w", path, err)
	}
	return syncDir(dir)
}

// createExact creates path with O_EXCL and exactly the permission bits perm.
func createExact(path string, perm os.FileMode) (*os.File, error) {
	if perm&^os.ModePerm != 0 {
		return nil, fmt.Errorf("failed to create %s: mode %v has bits other than permissions", path, perm)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return nil, fmt.Errorf("failed to create %s: %w", path, err)
	}
	fail := func(err error) (*os.File, error) {
		_ = f.Close()
		_ = os.Remove(path)
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		return fail(fmt.Errorf("failed to stat %s: %w", path, err))
	}
	if fi.Mode().Perm() != perm {
		// The umask removed bits; the file is empty, set them on the descriptor.
		if err := f.Chmod(perm); err != nil {
			return fail(fmt.Errorf("failed to set mode %v on %s: %w", perm, path, err))
		}
	}
	return f, nil
}

func writeSyncClose(f *os.File, path string, data []byte) error {
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("failed to sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("failed to close %s: %w", path, err)
	}
	return nil
}

// syncDir fsyncs a directory so that a creation or rename in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("failed to open directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("failed to sync directory %s: %w", dir, err)
	}
	return nil
}

// ErrNotWritable is wrapped by the errors of CheckWritable.
var ErrNotWritable = errors.New("not writable in place")

const (
	accessW       = 0x2        // W_OK
	fsIocGetflags = 0x80086601 // FS_IOC_GETFLAGS
	fsImmutableFl = 0x00000010 // FS_IMMUTABLE_FL
	fsAppendFl    = 0x00000020 // FS_APPEND_FL
	stRdonly      = 0x1        // ST_RDONLY
)

// CheckWritable reports whether WriteInPlace can write path, without
// modifying it: path must be an existing regular file, writable by this
// process (access(2) with W_OK, which also fails on a read-only mount), on a
// filesystem not mounted read-only, and neither immutable nor append-only
// (chattr +i / +a). The error names the path and what to do.
func CheckWritable(path string) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s does not exist: create it or fix the path: %w", path, ErrNotWritable)
	case err != nil:
		return fmt.Errorf("cannot check %s: %w (%w)", path, err, ErrNotWritable)
	case fi.IsDir():
		return fmt.Errorf("%s is a directory, not a file: %w", path, ErrNotWritable)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file (%v): %w", path, fi.Mode().Type(), ErrNotWritable)
	}

	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); runtime.GOOS == "linux" && err == nil && st.Flags&stRdonly != 0 {
		return fmt.Errorf("%s is on a read-only filesystem: mount it read-write: %w", path, ErrNotWritable)
	}

	if err := syscall.Access(path, accessW); err != nil {
		switch {
		case errors.Is(err, syscall.EROFS):
			return fmt.Errorf("%s is on a read-only filesystem: mount it read-write: %w", path, ErrNotWritable)
		case errors.Is(err, syscall.EACCES):
			return fmt.Errorf("%s is not writable by uid %d (mode %v): make it writable (chmod u+w, or chown it to uid %d) or run rekey as its owner: %w",
				path, os.Getuid(), fi.Mode().Perm(), os.Getuid(), ErrNotWritable)
		case errors.Is(err, syscall.EPERM):
			return fmt.Errorf("%s is immutable: remove the attribute with chattr -i: %w", path, ErrNotWritable)
		default:
			return fmt.Errorf("%s is not writable: %w (%w)", path, err, ErrNotWritable)
		}
	}

	if flags, ok := inodeFlags(path); ok {
		if flags&fsImmutableFl != 0 {
			return fmt.Errorf("%s is immutable: remove the attribute with chattr -i: %w", path, ErrNotWritable)
		}
		if flags&fsAppendFl != 0 {
			return fmt.Errorf("%s is append-only: remove the attribute with chattr -a: %w", path, ErrNotWritable)
		}
	}
	return nil
}

// inodeFlags returns the chattr flags of path, if the file can be opened for
// reading and the filesystem supports them.
func inodeFlags(path string) (uint32, bool) {
	if runtime.GOOS != "linux" {
		return 0, false
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	var flags uint32
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), fsIocGetflags, uintptr(unsafe.Pointer(&flags)))
	if errno != 0 {
		return 0, false
	}
	return flags, true
}
