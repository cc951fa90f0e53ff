package live

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/rekeyhq/rekey/reconcile"
)

// TestReadValuesMatchesReadValue: reading many locations at once gives what reading each one does.
func TestReadValuesMatchesReadValue(t *testing.T) {
	dir := t.TempDir()
	env := filepath.Join(dir, ".env")
	if err := os.WriteFile(env, []byte("A=1\nB=${A}2\n# comment\nC='x y'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(dir, "token.txt")
	if err := os.WriteFile(secret, []byte("tok\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	locs := []reconcile.Location{{Path: env, Key: "A"}, {Path: env, Key: "B"}, {Path: env, Key: "C"}, {Path: env, Key: "MISSING"},
		{Path: secret}, {Path: filepath.Join(dir, "absent.env"), Key: "A"}, {Path: filepath.Join(dir, "absent.txt")}}
	var files Files
	all, err := files.ReadValues(context.Background(), locs)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range locs {
		one, err := files.ReadValue(context.Background(), l)
		if err != nil || one != all[l] {
			t.Errorf("%s: ReadValue %q (%v), ReadValues %q", l, one, err, all[l])
		}
	}
	if all[reconcile.Location{Path: env, Key: "B"}] != "12" {
		t.Errorf("B = %q, want the interpolated 12", all[reconcile.Location{Path: env, Key: "B"}])
	}
}

// TestFilesReportReplacedValues: a write that changes a variable reports the value it replaced (as the
// file's reader decodes it), one that writes the same value reports nothing, and putting a file back
// reports a restore.
func TestFilesReportReplacedValues(t *testing.T) {
	dir := t.TempDir()
	env := filepath.Join(dir, ".env")
	if err := os.WriteFile(env, []byte("A='old value'\nB=b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var replaced []string
	restored := 0
	replace := func(old, value string) { replaced = append(replaced, old+"→"+value) }
	files := Files{Root: dir, Replaced: replace, Restored: func() { restored++ }}
	ctx := context.Background()
	if err := files.WriteValue(ctx, reconcile.Location{Path: env, Key: "A"}, "new"); err != nil {
		t.Fatal(err)
	}
	if err := files.WriteValue(ctx, reconcile.Location{Path: env, Key: "B"}, "b"); err != nil {
		t.Fatal(err)
	}
	if err := files.WriteValue(ctx, reconcile.Location{Path: env, Key: "C"}, "c"); err != nil {
		t.Fatal(err)
	}
	if len(replaced) != 2 || replaced[0] != "old value→new" || replaced[1] != "→c" {
		t.Errorf("replaced %q, want A's old value (decoded) then the absent C's empty one", replaced)
	}
	if restored != 0 {
		t.Errorf("restored %d times by value writes", restored)
	}
	if err := files.WriteFile(ctx, env, []byte("A='old value'\nB=b\n")); err != nil {
		t.Fatal(err)
	}
	if restored != 1 {
		t.Errorf("restored %d times, want 1", restored)
	}
}
