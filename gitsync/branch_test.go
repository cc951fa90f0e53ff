package gitsync

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestBranch(t *testing.T) {
	dir := t.TempDir()
	git := func(args ...string) {
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.invalid"}, args...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q", "-b", "trunk")
	os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o600)
	git("add", "f")
	git("commit", "-qm", "one")
	local, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := local.Branch(); err != nil || b != "trunk" {
		t.Errorf("local Branch = %q, %v", b, err)
	}
	remote, err := Open(context.Background(), "file://"+dir, WithCacheDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := remote.Branch(); err != nil || b != "trunk" {
		t.Errorf("remote Branch = %q, %v", b, err)
	}
	git("checkout", "-q", "--detach")
	local, _ = Open(context.Background(), dir)
	if _, err := local.Branch(); err == nil {
		t.Error("a detached HEAD has no branch")
	}
}
