package live

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/internal/fsx"
	"github.com/rekeyhq/rekey/reconcile"
)

// TestFilesRefuseSymlinks: a secret file that is a symlink, and a file reached through a symlinked
// directory below the project, are refused for reading and writing; the link's target keeps its bytes.
// (The old Files followed both: it overwrote the target as root and stashed its content.)
func TestFilesRefuseSymlinks(t *testing.T) {
	ctx := context.Background()
	project, outside := t.TempDir(), t.TempDir()
	victim := filepath.Join(outside, "authorized_keys")
	if err := os.WriteFile(victim, []byte("ssh-ed25519 AAAA admin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(project, "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(project, "secrets", "token.txt")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(project, "conf")); err != nil {
		t.Fatal(err)
	}
	files := Files{Root: project}
	for _, l := range []reconcile.Location{
		{Path: link},
		{Path: filepath.Join(project, "conf", "authorized_keys")},
		{Path: filepath.Join(project, "conf", "authorized_keys"), Key: "TOKEN"},
	} {
		if _, err := files.ReadValue(ctx, l); !errors.Is(err, fsx.ErrSymlink) || !strings.Contains(err.Error(), l.Path) {
			t.Errorf("read %s: err = %v, want a symlink error naming the file", l, err)
		}
		if err := files.WriteValue(ctx, l, "new-token"); !errors.Is(err, fsx.ErrSymlink) {
			t.Errorf("write %s: err = %v, want a symlink error", l, err)
		}
		if _, err := files.ReadValues(ctx, []reconcile.Location{l}); !errors.Is(err, fsx.ErrSymlink) {
			t.Errorf("read many %s: err = %v", l, err)
		}
	}
	// A new file in a symlinked directory is not created either.
	if err := files.WriteValue(ctx, reconcile.Location{Path: filepath.Join(project, "conf", "new.txt")}, "v"); !errors.Is(err, fsx.ErrSymlink) {
		t.Errorf("create through a symlinked directory: err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(outside, "new.txt")); err == nil {
		t.Errorf("created a file through the symlinked directory")
	}
	if got, _ := os.ReadFile(victim); string(got) != "ssh-ed25519 AAAA admin\n" {
		t.Errorf("the link's target changed: %q", got)
	}
	// Without a root (a file outside the project), the file itself still may not be a link.
	if _, err := (Files{}).ReadValue(ctx, reconcile.Location{Path: link}); !errors.Is(err, fsx.ErrSymlink) {
		t.Errorf("no root: err = %v", err)
	}
}

// TestFilesSizeLimits: /dev/zero as a secret file fails at once (the old reader read until memory ran
// out); a file over its limit fails with the file and the limit named.
func TestFilesSizeLimits(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	_, err := Files{}.ReadValue(ctx, reconcile.Location{Path: "/dev/zero"})
	if err == nil || !strings.Contains(err.Error(), "/dev/zero") || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("/dev/zero: err = %v", err)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("/dev/zero took %s", el)
	}
	dir := t.TempDir()
	value := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(value, bytes.Repeat([]byte("A"), MaxValueFile+1), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Files{}.ReadValue(ctx, reconcile.Location{Path: value})
	if !errors.Is(err, fsx.ErrTooLarge) || !strings.Contains(err.Error(), value) || !strings.Contains(err.Error(), "1 MiB") {
		t.Errorf("value file over 1 MiB: err = %v", err)
	}
	env := filepath.Join(dir, ".env")
	big := bytes.Repeat([]byte("# padding padding padding padding\n"), MaxEnvFile/30)
	if err := os.WriteFile(env, big, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Files{}.ReadValue(ctx, reconcile.Location{Path: env, Key: "A"})
	if !errors.Is(err, fsx.ErrTooLarge) || !strings.Contains(err.Error(), env) || !strings.Contains(err.Error(), "16 MiB") {
		t.Errorf(".env over 16 MiB: err = %v", err)
	}
}

// TestFilesWarnReadableSecretFile: a secret file readable by group or others is reported once; the
// read still succeeds.
func TestFilesWarnReadableSecretFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token.txt")
	if err := os.WriteFile(path, []byte("tok"), 0o644); err != nil {
		t.Fatal(err)
	}
	var warnings []string
	files := Files{Warn: func(s string) { warnings = append(warnings, s) }}
	for range 2 {
		if v, err := files.ReadValue(context.Background(), reconcile.Location{Path: path}); err != nil || v != "tok" {
			t.Fatalf("read = %q, %v", v, err)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], path) || !strings.Contains(warnings[0], "-rw-r--r--") || strings.Contains(warnings[0], "tok\n") {
		t.Errorf("warnings = %q", warnings)
	}
	private := filepath.Join(t.TempDir(), "private.txt")
	if err := os.WriteFile(private, []byte("tok"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := files.ReadValue(context.Background(), reconcile.Location{Path: private}); err != nil || len(warnings) != 1 {
		t.Errorf("a 0600 file warned: %q, %v", warnings, err)
	}
}
