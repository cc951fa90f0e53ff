package fsx

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/internal/testenv"
)

// envOf returns a dotenv file of about n bytes whose every line is distinct.
func envOf(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "VAR_%04d=value-%04d\n", i, i)
	}
	return b.Bytes()
}

// TestWriteInPlaceFullDiskChangesNothing: on a full filesystem, a write that needs more blocks than the
// file has fails before its first byte, and the file keeps every byte (the old code wrote the new head
// over the old content, then failed: the tail was lost).
func TestWriteInPlaceFullDiskChangesNothing(t *testing.T) {
	dir := testenv.SmallTmpfs(t, "64k")
	path := filepath.Join(dir, ".env")
	old := envOf(3000)
	if err := os.WriteFile(path, old, 0o600); err != nil {
		t.Fatal(err)
	}
	testenv.FillUp(t, dir)
	next := append([]byte("SECRET=a-new-value\n"), envOf(12000)...)
	err := WriteInPlace(path, next)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("err = %v, want ENOSPC", err)
	}
	if !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), "a-new-value") {
		t.Errorf("error must name the file and no value: %v", err)
	}
	got, _ := os.ReadFile(path)
	if !bytes.Equal(got, old) {
		t.Fatalf("the file changed: %d bytes, head %q", len(got), got[:40])
	}
	// Space freed: the same write goes through.
	if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
		t.Fatal(err)
	}
	if err := WriteInPlace(path, next); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, next) {
		t.Errorf("content after the retry differs")
	}
}

// TestProveBySibling: the fallback for filesystems without fallocate refuses a write that does not fit
// and leaves no file behind either way.
func TestProveBySibling(t *testing.T) {
	dir := testenv.SmallTmpfs(t, "64k")
	path := filepath.Join(dir, "token")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := proveBySibling(path, 8000); err != nil {
		t.Fatalf("room left: %v", err)
	}
	testenv.FillUp(t, dir)
	if err := proveBySibling(path, 8000); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("full: err = %v, want ENOSPC", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("left behind: %v", entries)
	}
}

// TestOpenTargetRefusesSymlinks: a symlinked file, or a symlinked directory below the root, is refused
// for reading and writing, and the link's target is not changed.
func TestOpenTargetRefusesSymlinks(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	victim := filepath.Join(outside, "shadow")
	if err := os.WriteFile(victim, []byte("root:x:0:0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	fileLink := filepath.Join(root, "secrets", "token.txt")
	if err := os.Symlink(victim, fileLink); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "linked")); err != nil {
		t.Fatal(err)
	}
	dirLink := filepath.Join(root, "linked", "shadow")
	for _, p := range []string{fileLink, dirLink} {
		for _, rootArg := range []string{root, ""} {
			if rootArg == "" && p == dirLink {
				continue // without a root only the last component is checked
			}
			if err := WriteInPlaceAt(rootArg, p, []byte("owned")); !errors.Is(err, ErrSymlink) {
				t.Errorf("write %s (root %q): err = %v, want ErrSymlink", p, rootArg, err)
			}
			if _, err := ReadTarget(rootArg, p, 1<<20, "a secret file"); !errors.Is(err, ErrSymlink) {
				t.Errorf("read %s (root %q): err = %v, want ErrSymlink", p, rootArg, err)
			}
		}
	}
	if got, _ := os.ReadFile(victim); string(got) != "root:x:0:0\n" {
		t.Errorf("the link's target changed: %q", got)
	}
	// The walk used without openat2 refuses the same.
	for _, rel := range []string{"secrets/token.txt", "linked/shadow"} {
		d, _ := syscall.Open(root, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
		fd, err := walkNoSymlinks(d, rel, syscall.O_RDONLY|syscall.O_NOFOLLOW)
		syscall.Close(d)
		if err == nil {
			syscall.Close(fd)
		}
		if !errors.Is(err, syscall.ELOOP) {
			t.Errorf("walk %s: err = %v, want ELOOP", rel, err)
		}
	}
	// A real file below the root still works, both ways.
	real := filepath.Join(root, "secrets", "real.txt")
	if err := os.WriteFile(real, []byte("v1"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteInPlaceAt(root, real, []byte("v2")); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadTarget(root, real, 1<<20, "a secret file"); err != nil || string(got) != "v2" {
		t.Errorf("read = %q, %v", got, err)
	}
	d, _ := syscall.Open(root, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	defer syscall.Close(d)
	fd, err := walkNoSymlinks(d, "secrets/real.txt", syscall.O_RDONLY|syscall.O_NOFOLLOW)
	if err != nil {
		t.Fatalf("walk to a real file: %v", err)
	}
	syscall.Close(fd)
	if _, err := walkNoSymlinks(d, "secrets/../../x", syscall.O_RDONLY); !errors.Is(err, syscall.EXDEV) {
		t.Errorf("walk with ..: err = %v, want EXDEV", err)
	}
}

// TestReadTargetLimits: /dev/zero is refused at once (not a regular file), and a regular file over the
// limit fails with the limit named, reading no more than the limit.
func TestReadTargetLimits(t *testing.T) {
	start := time.Now()
	_, err := ReadTarget("", "/dev/zero", 1<<20, "a secret file")
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("/dev/zero: err = %v", err)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("/dev/zero took %s", el)
	}
	big := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(big, bytes.Repeat([]byte("A"), 1<<20+1), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = ReadTarget("", big, 1<<20, "a secret file")
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), big) || !strings.Contains(err.Error(), "1 MiB") {
		t.Errorf("err = %v", err)
	}
	if data, err := ReadTarget("", big, 2<<20, "a secret file"); err != nil || len(data) != 1<<20+1 {
		t.Errorf("under the limit: %d bytes, %v", len(data), err)
	}
}
