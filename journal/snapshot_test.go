package journal

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

const plaintext = "DB_PASSWORD=correct-horse-battery-staple-4f1c9a\n"

func writeFile(t *testing.T, path, content string, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func TestSnapshotRestoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	j := open(t, t.TempDir())
	src := t.TempDir()
	env := filepath.Join(src, ".env")
	secret := filepath.Join(src, "db_password.txt")
	writeFile(t, env, "# comment\n"+plaintext, 0o640)
	writeFile(t, secret, "s3cr3t-file-value", 0o600)
	envIno, secretIno := inode(t, env), inode(t, secret)

	if err := j.Snapshot(ctx, "t1", []string{env, secret, env}); err != nil {
		t.Fatal(err)
	}

	// Change both in place: one longer (restore must truncate), one shorter.
	writeFile(t, env, "# comment\nDB_PASSWORD=a-much-longer-new-value-that-is-not-the-old-one-at-all\n", 0o640)
	writeFile(t, secret, "x", 0o600)

	if err := j.Restore(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, env); got != "# comment\n"+plaintext {
		t.Errorf("restored .env = %q", got)
	}
	if got := readFile(t, secret); got != "s3cr3t-file-value" {
		t.Errorf("restored secret file = %q", got)
	}
	if inode(t, env) != envIno || inode(t, secret) != secretIno {
		t.Error("restore changed an inode: it must write in place")
	}
	if got := mode(t, env); got != 0o640 {
		t.Errorf("mode of restored .env = %v, want 0640", got)
	}
	if got := mode(t, secret); got != 0o600 {
		t.Errorf("mode of restored secret = %v, want 0600", got)
	}

	// Restoring again is harmless, and the snapshot survives a reopen.
	if err := j.Restore(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	dir := j.Dir()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, secret, "changed again", 0o600)
	j = open(t, dir)
	if err := j.Restore(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, secret); got != "s3cr3t-file-value" || inode(t, secret) != secretIno {
		t.Errorf("restore after reopen: %q", got)
	}
}

func TestSnapshotRelativePath(t *testing.T) {
	ctx := context.Background()
	j := open(t, t.TempDir())
	src := t.TempDir()
	t.Chdir(src)
	writeFile(t, ".env", "A=1\n", 0o600)
	if err := j.Snapshot(ctx, "t1", []string{".env"}); err != nil {
		t.Fatal(err)
	}
	writeFile(t, ".env", "A=2\n", 0o600)
	t.Chdir(t.TempDir()) // the snapshot holds the absolute path
	if err := j.Restore(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(src, ".env")); got != "A=1\n" {
		t.Fatalf("restored = %q", got)
	}
}

func TestSnapshotReplacesEarlier(t *testing.T) {
	ctx := context.Background()
	j := open(t, t.TempDir())
	src := t.TempDir()
	a, b := filepath.Join(src, "a"), filepath.Join(src, "b")
	writeFile(t, a, "a1", 0o600)
	writeFile(t, b, "b1", 0o600)
	if err := j.Snapshot(ctx, "t1", []string{a, b}); err != nil {
		t.Fatal(err)
	}
	if err := j.SnapshotBlob("t1", "compose", []byte("services: {}")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, a, "a2", 0o600)
	if err := j.Snapshot(ctx, "t1", []string{a}); err != nil {
		t.Fatal(err)
	}
	writeFile(t, a, "a3", 0o600)
	writeFile(t, b, "b3", 0o600)
	if err := j.Restore(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, a); got != "a2" {
		t.Errorf("a = %q, want the second snapshot's a2", got)
	}
	if got := readFile(t, b); got != "b3" {
		t.Errorf("b = %q, want b3 (not in the second snapshot)", got)
	}
	// Blobs are kept by a new Snapshot.
	if got, err := j.Blob("t1", "compose"); err != nil || string(got) != "services: {}" {
		t.Errorf("Blob after a second Snapshot = %q, %v", got, err)
	}
}

func TestSnapshotIsEncryptedOnDisk(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	j := open(t, dir)
	src := filepath.Join(t.TempDir(), ".env")
	writeFile(t, src, plaintext, 0o600)
	if err := j.Snapshot(ctx, "t1", []string{src}); err != nil {
		t.Fatal(err)
	}
	if err := j.SnapshotBlob("t1", "compose", []byte("blob "+plaintext)); err != nil {
		t.Fatal(err)
	}
	if got, err := j.Blob("t1", "compose"); err != nil || string(got) != "blob "+plaintext {
		t.Fatalf("Blob = %q, %v", got, err)
	}
	if err := j.Restore(ctx, "t1"); err != nil {
		t.Fatal(err)
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
	if strings.Join(names, ",") != "journal.db,snapshot.key" {
		t.Errorf("state dir holds %v, want journal.db and snapshot.key only", names)
	}
	raw, err := os.ReadFile(filepath.Join(dir, dbName))
	if err != nil {
		t.Fatal(err)
	}
	for _, needle := range []string{"correct-horse-battery-staple", "DB_PASSWORD"} {
		if bytes.Contains(raw, []byte(needle)) {
			t.Errorf("journal.db contains the plaintext %q", needle)
		}
	}
	if !bytes.Contains(raw, []byte("age-encryption.org/v1")) {
		t.Error("journal.db holds no age ciphertext: was anything stored?")
	}
}

func TestRestoreMissingSnapshot(t *testing.T) {
	ctx := context.Background()
	j := open(t, t.TempDir())
	if err := j.Restore(ctx, "nope"); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("Restore of a missing snapshot: %v", err)
	}
	if _, err := j.Blob("nope", "compose"); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("Blob of a missing snapshot: %v", err)
	}

	src := filepath.Join(t.TempDir(), ".env")
	writeFile(t, src, "A=1\n", 0o600)
	if err := j.SnapshotBlob("t1", "compose", []byte("x")); err != nil {
		t.Fatal(err)
	}
	// Only a blob: no files to restore.
	if err := j.Restore(ctx, "t1"); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("Restore of a txn with only a blob: %v", err)
	}
	if err := j.Snapshot(ctx, "t1", []string{src}); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Blob("t1", "other"); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("Blob of a missing name: %v", err)
	}
	if err := j.DropSnapshot("t1"); err != nil {
		t.Fatal(err)
	}
	if err := j.DropSnapshot("t1"); err != nil {
		t.Fatalf("second DropSnapshot: %v", err)
	}
	if err := j.Restore(ctx, "t1"); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("Restore after DropSnapshot: %v", err)
	}
	if _, err := j.Blob("t1", "compose"); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("Blob after DropSnapshot: %v", err)
	}
}

func TestSnapshotMissingFile(t *testing.T) {
	j := open(t, t.TempDir())
	missing := filepath.Join(t.TempDir(), "missing")
	err := j.Snapshot(context.Background(), "t1", []string{missing})
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("Snapshot of a missing file: %v", err)
	}
	if err := j.Snapshot(context.Background(), "t1", []string{t.TempDir()}); err == nil {
		t.Fatal("Snapshot of a directory succeeded")
	}
}

func TestRestoreRecreatesDeletedFile(t *testing.T) {
	ctx := context.Background()
	j := open(t, t.TempDir())
	src := filepath.Join(t.TempDir(), "secret")
	writeFile(t, src, "value", 0o640)
	if err := j.Snapshot(ctx, "t1", []string{src}); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(src); err != nil {
		t.Fatal(err)
	}
	if err := j.Restore(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, src); got != "value" || mode(t, src) != 0o640 {
		t.Fatalf("recreated file = %q mode %v", got, mode(t, src))
	}
}

func TestRefusesGroupReadableKey(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	j := open(t, dir)
	src := filepath.Join(t.TempDir(), ".env")
	writeFile(t, src, "A=1\n", 0o600)
	if err := j.Snapshot(ctx, "t1", []string{src}); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, keyName)
	if err := os.Chmod(key, 0o640); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"Snapshot":     j.Snapshot(ctx, "t2", []string{src}),
		"Restore":      j.Restore(ctx, "t1"),
		"SnapshotBlob": j.SnapshotBlob("t1", "x", []byte("x")),
	} {
		if err == nil || !strings.Contains(err.Error(), "chmod 600 "+key) {
			t.Errorf("%s with a group-readable key: %v", name, err)
		}
	}
	if err := os.Chmod(key, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := j.Restore(ctx, "t1"); err != nil {
		t.Fatalf("Restore once the key is 0600 again: %v", err)
	}
}

func TestMissingKeyCannotDecrypt(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	j := open(t, dir)
	src := filepath.Join(t.TempDir(), ".env")
	writeFile(t, src, "A=1\n", 0o600)
	if err := j.Snapshot(ctx, "t1", []string{src}); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, keyName)); err != nil {
		t.Fatal(err)
	}
	if err := j.Restore(ctx, "t1"); err == nil || !strings.Contains(err.Error(), "is missing") {
		t.Fatalf("Restore without the key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, keyName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("Restore created a new key")
	}
	// A new key (created by a new snapshot) cannot decrypt the old one.
	if err := j.SnapshotBlob("t2", "x", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := j.Restore(ctx, "t1"); err == nil {
		t.Fatal("Restore with a different key succeeded")
	}
}

func TestBadKeyErrorHasNoContent(t *testing.T) {
	dir := t.TempDir()
	j := open(t, dir)
	const bogus = "AGE-SECRET-KEY-1NOTAREALKEYBUTLOOKSLIKEONE"
	writeFile(t, filepath.Join(dir, keyName), bogus+"\n", 0o600)
	err := j.SnapshotBlob("t1", "x", []byte("x"))
	if err == nil {
		t.Fatal("SnapshotBlob with a bogus key succeeded")
	}
	if strings.Contains(err.Error(), "NOTAREALKEY") {
		t.Fatalf("error quotes the key file: %v", err)
	}
}
