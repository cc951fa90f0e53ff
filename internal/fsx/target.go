package fsx

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrSymlink is wrapped by the errors of OpenTarget for a path that goes through a symbolic link.
var ErrSymlink = errors.New("symbolic link")

// ErrTooLarge is wrapped by the errors of ReadTarget for a file over its size limit.
var ErrTooLarge = errors.New("file too large")

// OpenTarget opens a file of the stack (a .env, an env file, a secret file, a host file) for reading
// (flag os.O_RDONLY) or for writing in place (os.O_WRONLY), without following any symbolic link: the
// last component is opened with O_NOFOLLOW and, when path lies below root, no directory between root
// and the file may be a symlink either (openat2 with RESOLVE_NO_SYMLINKS|RESOLVE_BENEATH, or a walk of
// openat(O_NOFOLLOW|O_DIRECTORY) on kernels without openat2). A container with a writable bind mount of
// a directory can plant a link there; following it would make rekey, as root, write (and stash) the
// link's target. What was opened is then checked on the descriptor (fstat), so there is no window
// between the check and the use: it must be a regular file. root "" checks the last component only.
func OpenTarget(root, path string, flag int) (*os.File, error) {
	flag |= syscall.O_NOFOLLOW | syscall.O_CLOEXEC | syscall.O_NONBLOCK // never block on a FIFO
	fd, err := openNoSymlinks(root, path, flag)
	if err != nil {
		switch {
		case errors.Is(err, syscall.ELOOP):
			err = fmt.Errorf("%s: a symbolic link is on its path: rekey does not follow symlinks in the files it reads and writes; point the config at the real file: %w", path, ErrSymlink)
		case errors.Is(err, syscall.EXDEV):
			err = fmt.Errorf("%s: leaves %s through a symbolic link or '..': %w", path, root, ErrSymlink)
		default:
			err = &os.PathError{Op: "open", Path: path, Err: err}
		}
		return nil, err
	}
	f := os.NewFile(uintptr(fd), path)
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("failed to stat %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file (%v)", path, fi.Mode().Type())
	}
	return f, nil
}

// openNoSymlinks returns a descriptor for path with flag, refusing symlinks as OpenTarget says.
func openNoSymlinks(root, path string, flag int) (int, error) {
	rel, below := beneath(root, path)
	if !below {
		// Outside the project (a declared host file, an env file compose names by absolute path): the
		// directory is the operator's; only the file itself must not be a link.
		return unix.Open(path, flag, 0)
	}
	dirfd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	defer unix.Close(dirfd)
	how := &unix.OpenHow{Flags: uint64(flag), Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_BENEATH}
	fd, err := unix.Openat2(dirfd, rel, how)
	if errors.Is(err, unix.ENOSYS) {
		return walkNoSymlinks(dirfd, rel, flag)
	}
	return fd, err
}

// walkNoSymlinks opens rel under dirfd one component at a time, each with O_NOFOLLOW: the fallback for
// kernels before 5.6 (or seccomp filters) without openat2.
func walkNoSymlinks(dirfd int, rel string, flag int) (int, error) {
	parts := strings.Split(rel, "/")
	cur := dirfd
	for i, p := range parts {
		if p == ".." {
			return -1, unix.EXDEV
		}
		if i == len(parts)-1 {
			fd, err := unix.Openat(cur, p, flag, 0)
			closeIfNot(cur, dirfd)
			return fd, err
		}
		next, err := unix.Openat(cur, p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		closeIfNot(cur, dirfd)
		if errors.Is(err, unix.ENOTDIR) && isLink(cur, p) {
			err = unix.ELOOP
		}
		if err != nil {
			return -1, err
		}
		cur = next
	}
	return -1, unix.ENOENT
}

func closeIfNot(fd, keep int) {
	if fd != keep {
		unix.Close(fd)
	}
}

func isLink(dirfd int, name string) bool {
	var st unix.Stat_t
	return unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK
}

// beneath returns path relative to root, and whether path lies below root.
func beneath(root, path string) (string, bool) {
	if root == "" {
		return "", false
	}
	rel, err := filepath.Rel(filepath.Clean(root), filepath.Clean(path))
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") || filepath.IsAbs(rel) {
		return "", false
	}
	return rel, true
}

// ReadTarget reads the whole file at path, opened as OpenTarget does, refusing a file larger than limit
// bytes without reading more than limit+1 of them: a secret file that is /dev/zero or a multi-gigabyte
// file must fail fast, with flat memory. what names the kind of file for the error ("an .env file").
func ReadTarget(root, path string, limit int64, what string) ([]byte, error) {
	f, err := OpenTarget(root, path, os.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %s, the limit for %s: %w", path, Size(limit), what, ErrTooLarge)
	}
	return data, nil
}

// Size formats a byte count for messages: "1 MiB", "16 MiB", "512 bytes".
func Size(n int64) string {
	const mib = 1 << 20
	if n >= mib && n%mib == 0 {
		return fmt.Sprintf("%d MiB", n/mib)
	}
	if n >= 1<<10 && n%(1<<10) == 0 {
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// CreateFileAt is CreateFile for a file of the stack: when path lies below root, no directory between
// root and it may be a symbolic link. The file itself is created with O_EXCL, which never follows one.
func CreateFileAt(root, path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if _, below := beneath(root, dir); below {
		fd, err := openNoSymlinks(root, dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC)
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV) {
			return fmt.Errorf("failed to create %s: a symbolic link is on its path: rekey does not follow symlinks in the files it writes: %w", path, ErrSymlink)
		}
		if err != nil {
			return fmt.Errorf("failed to create %s: %w", path, &os.PathError{Op: "open", Path: dir, Err: err})
		}
		unix.Close(fd)
	}
	return CreateFile(path, data, perm)
}
