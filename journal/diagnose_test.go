package journal

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestOpenImmutableSaysChattr: a journal.db made immutable (chattr +i) fails Open with the path and the
// command that makes it writable again, as fsx.CheckWritable diagnoses other files.
func TestOpenImmutableSaysChattr(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, dbName)
	if out, err := exec.Command("chattr", "+i", path).CombinedOutput(); err != nil {
		t.Skipf("chattr +i not supported here: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("chattr", "-i", path).Run() })
	j, err = Open(dir)
	if err == nil {
		_ = j.Close()
		t.Skip("an immutable file opened for writing: not running as root with CAP_LINUX_IMMUTABLE semantics")
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "chattr -i") {
		t.Errorf("Open on an immutable journal: %v, want the path and chattr -i", err)
	}
	if !errors.Is(err, syscall.EPERM) {
		t.Errorf("the diagnosis lost the cause: %v", err)
	}
}

// TestDiagnoseFullAndOther: a full state dir is named with what to do; an error that is not a filesystem
// refusal passes unchanged.
func TestDiagnoseFullAndOther(t *testing.T) {
	dir := t.TempDir()
	full := fmt.Errorf("failed to write a journal record: %w", syscall.ENOSPC)
	if got := Diagnose(dir, full); !errors.Is(got, syscall.ENOSPC) || !strings.Contains(got.Error(), "the state dir "+dir+" is full") {
		t.Errorf("Diagnose(ENOSPC) = %v", got)
	}
	other := errors.New("bucket missing")
	if got := Diagnose(dir, other); got != other {
		t.Errorf("Diagnose(other) = %v, want it unchanged", got)
	}
	if Diagnose(dir, nil) != nil {
		t.Error("Diagnose(nil) is not nil")
	}
}
