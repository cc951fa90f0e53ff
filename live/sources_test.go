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
