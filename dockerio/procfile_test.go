package dockerio

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestReadProcFile reads through this test process's own /proc/PID/root: the "container id" is a line of
// its own cgroup file, so the identity check passes and the file rules can be tested without Docker.
func TestReadProcFile(t *testing.T) {
	cg, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Skip("no /proc/self/cgroup")
	}
	id := strings.SplitN(strings.TrimSpace(string(cg)), "\n", 2)[0]
	pid := os.Getpid()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("token", "value-in-file")
	if got, err := ReadProcFile(pid, id, good); err != nil || string(got) != "value-in-file" {
		t.Fatalf("regular file: %q, %v", got, err)
	}
	link := filepath.Join(dir, "zero")
	if err := os.Symlink("/dev/zero", link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, maxFileSize+1); err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]string{"symlink to a device": link, "fifo": fifo, "directory": dir} {
		if _, err := ReadProcFile(pid, id, p); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("%s: %v, want not a regular file", name, err)
		}
	}
	if _, err := ReadProcFile(pid, id, big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("big file: %v", err)
	}
	if _, err := ReadProcFile(pid, "not-this-container", good); !errors.Is(err, ErrNoProcView) {
		t.Errorf("another container's pid: %v, want ErrNoProcView", err)
	}
}
