package journal

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const plaintext = `[{"path":"/srv/shop/.env","key":"DB_PASSWORD","value":"correct-horse-battery-staple-4f1c9a"}]`

func writeFile(t *testing.T, path, content string, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil {
		t.Fatal(err)
	}
}

func save(t *testing.T, j *Journal, txn, data string) {
	t.Helper()
	if err := j.Save(context.Background(), txn, []byte(data)); err != nil {
		t.Fatalf("Save %s: %v", txn, err)
	}
}

func load(t *testing.T, j *Journal, txn string) string {
	t.Helper()
	got, err := j.Load(context.Background(), txn)
	if err != nil {
		t.Fatalf("Load %s: %v", txn, err)
	}
	return string(got)
}

func TestStashRoundTrip(t *testing.T) {
	dir := t.TempDir()
	j := open(t, dir)
	save(t, j, "t1", plaintext)
	save(t, j, "t2", "other")
	if got := load(t, j, "t1"); got != plaintext {
		t.Errorf("Load t1 = %q, want %q", got, plaintext)
	}
	if got := load(t, j, "t2"); got != "other" {
		t.Errorf("Load t2 = %q, want other", got)
	}
	// Loading twice is harmless, and an empty value round-trips.
	if got := load(t, j, "t1"); got != plaintext {
		t.Errorf("second Load t1 = %q", got)
	}
	save(t, j, "t3", "")
	if got := load(t, j, "t3"); got != "" {
		t.Errorf("Load of empty data = %q", got)
	}

	// The data survives a Close and Open.
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j = open(t, dir)
	if got := load(t, j, "t1"); got != plaintext {
		t.Errorf("Load t1 after reopen = %q", got)
	}
	if got := load(t, j, "t2"); got != "other" {
		t.Errorf("Load t2 after reopen = %q", got)
	}
}

func TestStashSaveReplacesEarlier(t *testing.T) {
	j := open(t, t.TempDir())
	save(t, j, "t1", "first, and longer than the second")
	save(t, j, "t1", "second")
	if got := load(t, j, "t1"); got != "second" {
		t.Fatalf("Load after a second Save = %q, want second", got)
	}
	// One Drop forgets it: nothing of the first Save is left behind.
	if err := j.Drop(context.Background(), "t1"); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Load(context.Background(), "t1"); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("Load after Drop of a replaced stash: %v", err)
	}
}

func TestStashIsEncryptedOnDisk(t *testing.T) {
	dir := t.TempDir()
	j := open(t, dir)
	save(t, j, "t1", plaintext)
	if got := load(t, j, "t1"); got != plaintext {
		t.Fatalf("Load = %q", got)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "journal.db,"+keysDir {
		t.Errorf("state dir holds %v, want journal.db and %s only", names, keysDir)
	}
	if keys, err := os.ReadDir(filepath.Join(dir, keysDir)); err != nil || len(keys) != 1 {
		t.Errorf("%s holds %v (%v), want the key of t1 only", keysDir, keys, err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, dbName))
	if err != nil {
		t.Fatal(err)
	}
	for _, needle := range []string{"correct-horse-battery-staple", "DB_PASSWORD", "/srv/shop/.env"} {
		if bytes.Contains(raw, []byte(needle)) {
			t.Errorf("journal.db contains the plaintext %q", needle)
		}
	}
	if !bytes.Contains(raw, []byte("age-encryption.org/v1")) {
		t.Error("journal.db holds no age ciphertext: was anything stored?")
	}
}

func TestStashMissing(t *testing.T) {
	ctx := context.Background()
	j := open(t, t.TempDir())
	if _, err := j.Load(ctx, "nope"); !errors.Is(err, ErrNoSnapshot) || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("Load of an unknown txn: %v", err)
	}
	if _, err := j.Load(ctx, ""); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("Load of an empty txn: %v", err)
	}
	if err := j.Save(ctx, "", []byte("x")); err == nil {
		t.Fatal("Save under an empty txn succeeded")
	}
	if err := j.Drop(ctx, "nope"); err != nil {
		t.Fatalf("Drop of an unknown txn: %v", err)
	}

	save(t, j, "t1", plaintext)
	save(t, j, "t2", "kept")
	if err := j.Drop(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if err := j.Drop(ctx, "t1"); err != nil {
		t.Fatalf("second Drop: %v", err)
	}
	if _, err := j.Load(ctx, "t1"); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("Load after Drop: %v", err)
	}
	// Drop forgets only its own transaction.
	if got := load(t, j, "t2"); got != "kept" {
		t.Fatalf("Load of another txn after Drop = %q", got)
	}
	// A dropped txn can be stashed again.
	save(t, j, "t1", "again")
	if got := load(t, j, "t1"); got != "again" {
		t.Fatalf("Load after Save of a dropped txn = %q", got)
	}
}

func TestStashCanceledContext(t *testing.T) {
	j := open(t, t.TempDir())
	save(t, j, "t1", "before")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := j.Save(ctx, "t1", []byte("after")); !errors.Is(err, context.Canceled) {
		t.Errorf("Save with a canceled context: %v", err)
	}
	if _, err := j.Load(ctx, "t1"); !errors.Is(err, context.Canceled) {
		t.Errorf("Load with a canceled context: %v", err)
	}
	if err := j.Drop(ctx, "t1"); !errors.Is(err, context.Canceled) {
		t.Errorf("Drop with a canceled context: %v", err)
	}
	// Nothing was changed.
	if got := load(t, j, "t1"); got != "before" {
		t.Errorf("Load after canceled calls = %q, want before", got)
	}

	// A canceled context does not create the key either.
	dir := t.TempDir()
	j = open(t, dir)
	if err := j.Save(ctx, "t1", []byte("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Save with a canceled context: %v", err)
	}
	if _, err := os.Stat(j.stashKeyPath("t1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Save with a canceled context created the key: %v", err)
	}
}

func TestRefusesGroupReadableKey(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	j := open(t, dir)
	save(t, j, "t1", plaintext)
	key := j.stashKeyPath("t1")
	if err := os.Chmod(key, 0o640); err != nil {
		t.Fatal(err)
	}
	_, loadErr := j.Load(ctx, "t1")
	for name, err := range map[string]error{
		"Save": j.Save(ctx, "t1", []byte("x")),
		"Load": loadErr,
	} {
		if err == nil || !strings.Contains(err.Error(), "chmod 600 "+key) {
			t.Errorf("%s with a group-readable key: %v", name, err)
		}
	}
	if err := os.Chmod(key, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := load(t, j, "t1"); got != plaintext {
		t.Fatalf("Load once the key is 0600 again = %q", got)
	}
}

func TestMissingKeyCannotDecrypt(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	j := open(t, dir)
	save(t, j, "t1", plaintext)
	key := j.stashKeyPath("t1")
	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Load(ctx, "t1"); err == nil || !strings.Contains(err.Error(), "is missing") {
		t.Fatalf("Load without the key: %v", err)
	}
	if _, err := os.Stat(key); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("Load created a new key")
	}
	// A new key (created by a new Save) cannot decrypt the old stash.
	save(t, j, "t2", "x")
	if _, err := os.Stat(j.stashKeyPath("t2")); err != nil {
		t.Fatalf("Save did not create a new key: %v", err)
	}
	if got, err := j.Load(ctx, "t1"); err == nil {
		t.Fatalf("Load with a different key succeeded: %q", got)
	}
	if got := load(t, j, "t2"); got != "x" {
		t.Fatalf("Load with the new key = %q", got)
	}
}

func TestBadKeyErrorHasNoContent(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	j := open(t, dir)
	save(t, j, "t1", "x")
	const bogus = "AGE-SECRET-" + "KEY-1NOTAREALKEYBUTLOOKSLIKEONE" // split: not a key, but shaped like one
	writeFile(t, j.stashKeyPath("t1"), bogus+"\n", 0o600)
	_, loadErr := j.Load(ctx, "t1")
	for name, err := range map[string]error{
		"Save": j.Save(ctx, "t1", []byte("x")),
		"Load": loadErr,
	} {
		if err == nil {
			t.Fatalf("%s with a bogus key succeeded", name)
		}
		if strings.Contains(err.Error(), "NOTAREALKEY") {
			t.Fatalf("%s error quotes the key file: %v", name, err)
		}
	}
}
