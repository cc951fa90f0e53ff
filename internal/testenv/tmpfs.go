package testenv

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// SmallTmpfs mounts a tmpfs of size (mount's notation: "64k") on a new directory and unmounts it when the
// test ends: a real file system that runs out of space. It needs root; without it the test skips (fails
// when CI is set).
func SmallTmpfs(tb testing.TB, size string) string {
	tb.Helper()
	if os.Geteuid() != 0 {
		unavailable(tb, "mounting a tmpfs needs root", "run the tests as root")
	}
	dir := tb.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		unavailable(tb, "cannot mount a tmpfs: "+err.Error(), "the tests need CAP_SYS_ADMIN")
	}
	tb.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			tb.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// FillUp writes a file in dir until its file system is full.
func FillUp(tb testing.TB, dir string) {
	tb.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	chunk := bytes.Repeat([]byte{'x'}, 512)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				tb.Fatalf("filling %s: %v", dir, err)
			}
			return
		}
	}
}
