package fsx

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func TestWriteInPlaceKeepsInodeAndMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".env")
	if err := os.WriteFile(path, []byte("A=1\nB=2\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	// A hard link stands in for a single-file bind mount: both names share
	// the inode, and the second must see the new content.
	link := filepath.Join(dir, "mounted")
	if err := os.Link(path, link); err != nil {
		t.Fatal(err)
	}
	ino := inode(t, path)

	for _, content := range []string{
		"A=1\nB=2\nC=a much longer content than before\n", // longer
		"A=9\n", // shorter
		"",      // empty
		"A=same length\n",
	} {
		if err := WriteInPlace(path, []byte(content)); err != nil {
			t.Fatalf("WriteInPlace: %v", err)
		}
		got, err := os.ReadFile(link)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != content {
			t.Errorf("content = %q, want %q", got, content)
		}
		if inode(t, path) != ino {
			t.Errorf("inode changed")
		}
		fi, _ := os.Stat(path)
		if fi.Mode().Perm() != 0o640 {
			t.Errorf("mode = %v, want 0640", fi.Mode().Perm())
		}
	}
}

func TestWriteInPlaceKeepsOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := WriteInPlace(path, []byte("new")); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != 65534 || st.Gid != 65534 {
		t.Errorf("owner = %d:%d, want 65534:65534", st.Uid, st.Gid)
	}
}

func TestWriteInPlaceErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	if err := WriteInPlace(missing, []byte("secret")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v, want ErrNotExist", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("WriteInPlace created the missing file")
	}
	if err := WriteInPlace(dir, []byte("secret")); err == nil {
		t.Errorf("directory: no error")
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteInPlace(fifo, []byte("secret")); err == nil {
		t.Errorf("fifo: no error")
	}
}

func TestCreateFileExactMode(t *testing.T) {
	old := syscall.Umask(0o077) // restrictive: strips group/other bits
	defer syscall.Umask(old)

	dir := t.TempDir()
	for _, perm := range []os.FileMode{0o600, 0o640, 0o644, 0o400, 0o755, 0o000} {
		path := filepath.Join(dir, perm.String())
		if err := CreateFile(path, []byte("data"), perm); err != nil {
			t.Fatalf("CreateFile(%v): %v", perm, err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != perm {
			t.Errorf("mode = %v, want %v", fi.Mode().Perm(), perm)
		}
		if perm&0o400 != 0 {
			if got, _ := os.ReadFile(path); string(got) != "data" {
				t.Errorf("content = %q", got)
			}
		}
	}
}

func TestCreateFileExclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("existing"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := CreateFile(path, []byte("new"), 0o600)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("err = %v, want ErrExist", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "existing" {
		t.Errorf("existing file changed: %q", got)
	}
	if err := CreateFile(filepath.Join(t.TempDir(), "x"), nil, os.ModeSetuid|0o600); err == nil {
		t.Errorf("setuid mode accepted")
	}
	// A symlink to a missing target is not followed.
	link := filepath.Join(t.TempDir(), "link")
	target := filepath.Join(t.TempDir(), "target")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := CreateFile(link, []byte("x"), 0o600); !errors.Is(err, fs.ErrExist) {
		t.Errorf("dangling symlink: err = %v, want ErrExist", err)
	}
	if _, err := os.Stat(target); err == nil {
		t.Errorf("CreateFile wrote through a symlink")
	}
}

func TestWriteFileAtomic(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)

	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	if err := WriteFileAtomic(path, []byte("v1"), 0o600); err != nil {
		t.Fatal(err)
	}
	ino := inode(t, path)
	if err := WriteFileAtomic(path, []byte("v2"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if string(got) != "v2" {
		t.Errorf("content = %q", got)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode = %v, want 0644", fi.Mode().Perm())
	}
	if inode(t, path) == ino {
		t.Errorf("inode unchanged: not replaced by rename")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	if err := WriteFileAtomic(filepath.Join(dir, "missing", "f"), []byte("x"), 0o600); err == nil {
		t.Errorf("missing directory: no error")
	}
}

func TestCheckWritable(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".env")
	if err := os.WriteFile(path, []byte("A=1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(path)
	if err := CheckWritable(path); err != nil {
		t.Errorf("writable file: %v", err)
	}
	after, _ := os.Stat(path)
	if !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("CheckWritable modified the file")
	}

	missing := filepath.Join(dir, "missing")
	err := CheckWritable(missing)
	if !errors.Is(err, ErrNotWritable) || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing: %v", err)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Errorf("CheckWritable created the file")
	}
	err = CheckWritable(dir)
	if !errors.Is(err, ErrNotWritable) || !strings.Contains(err.Error(), "directory") {
		t.Errorf("directory: %v", err)
	}

	ro := filepath.Join(dir, "ro")
	if err := os.WriteFile(ro, []byte("x"), 0o400); err != nil {
		t.Fatal(err)
	}
	err = CheckWritable(ro)
	if os.Geteuid() == 0 {
		// root bypasses permission bits: it can write a 0400 file.
		if err != nil {
			t.Errorf("0400 file as root: %v", err)
		}
	} else if !errors.Is(err, ErrNotWritable) || !strings.Contains(err.Error(), "not writable") {
		t.Errorf("0400 file: %v", err)
	}
}

// TestCheckWritableNonRoot runs CheckWritable as uid 65534 in a subprocess
// when the test runs as root, so that permission bits apply.
func TestCheckWritableNonRoot(t *testing.T) {
	if os.Getenv("FSX_CHECK_PATH") != "" {
		err := CheckWritable(os.Getenv("FSX_CHECK_PATH"))
		if err == nil {
			os.Stdout.WriteString("OK\n")
		} else {
			os.Stdout.WriteString("ERR " + err.Error() + "\n")
		}
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("runs CheckWritable as another uid; needs root")
	}
	// t.TempDir's parent is 0700; uid 65534 needs to reach the binary.
	dir, err := os.MkdirTemp("", "fsx-nonroot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "fsx.test")
	exe, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, exe, 0o755); err != nil {
		t.Fatal(err)
	}
	ro := filepath.Join(dir, "ro")
	rw := filepath.Join(dir, "rw")
	for _, p := range []string{ro, rw} {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(rw, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	run := func(path string) string {
		cmd := exec.Command(bin, "-test.run=^TestCheckWritableNonRoot$")
		cmd.Env = []string{"FSX_CHECK_PATH=" + path}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Skipf("cannot run as uid 65534: %v: %s", err, out)
		}
		return string(out)
	}
	if out := run(ro); !strings.Contains(out, "ERR "+ro+" is not writable by uid 65534") {
		t.Errorf("root-owned 0644 file as uid 65534: %s", out)
	}
	if out := run(rw); !strings.HasPrefix(out, "OK") {
		t.Errorf("own file as uid 65534: %s", out)
	}
}

func TestCheckWritableImmutable(t *testing.T) {
	chattr, err := exec.LookPath("chattr")
	if err != nil {
		t.Skip("chattr not installed")
	}
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, attr := range []string{"i", "a"} {
		if out, err := exec.Command(chattr, "+"+attr, path).CombinedOutput(); err != nil {
			t.Skipf("chattr +%s not supported here: %v: %s", attr, err, out)
		}
		err := CheckWritable(path)
		_ = exec.Command(chattr, "-"+attr, path).Run()
		want := map[string]string{"i": "chattr -i", "a": "chattr -a"}[attr]
		if !errors.Is(err, ErrNotWritable) || !strings.Contains(err.Error(), want) {
			t.Errorf("chattr +%s: %v", attr, err)
		}
	}
}

func TestCheckWritableReadOnlyMount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs here: %v: %s", err, out)
	}
	defer exec.Command("umount", dir).Run()
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-o", "remount,ro", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot remount read-only: %v: %s", err, out)
	}
	err := CheckWritable(path)
	if !errors.Is(err, ErrNotWritable) || !strings.Contains(err.Error(), "read-only filesystem") {
		t.Errorf("read-only mount: %v", err)
	}
}
