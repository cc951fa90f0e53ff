package journal

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"filippo.io/age"
	bolt "go.etcd.io/bbolt"

	"github.com/rekeyhq/rekey/reconcile"
)

// The crypto-shredding tests: a copy of the whole state dir, taken after transactions ended, must hold
// nothing that decrypts what they stashed. They look at the copy as an attacker would: every age
// identity anywhere in it (key files, or inside journal.db), against every age ciphertext anywhere in it
// (the stash bucket, and freed pages: journal.db is scanned raw).

const ageHeader = "age-encryption.org/v1\n"

// identityRE finds age identities: the Bech32 prefix, its separator "1", then the data part. The prefix is
// spelled apart so that the source holds nothing a secret scanner takes for a key.
var identityRE = regexp.MustCompile("AGE-SECRET-KEY-" + "1[0-9A-Z]+")

// marker is a value unique to this run, so that a hit cannot be a coincidence.
func marker(t *testing.T, what string) string {
	t.Helper()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return what + "-" + hex.EncodeToString(b[:])
}

// transaction runs one transaction through the journal API as the executor does: begin, snapshot (twice,
// the second replacing the first), a rollback's Load, end, Drop. It returns the values it stashed.
func transaction(t *testing.T, j *Journal, txn string) []string {
	t.Helper()
	ctx := context.Background()
	first, second := marker(t, "old-"+txn+"-first"), marker(t, "old-"+txn+"-host-file")
	record(t, j, reconcile.Record{Txn: txn, Secret: "db-password", Type: reconcile.RecordBegin, FromFP: "fp:aaaa", ToFP: "fp:bbbb"})
	save(t, j, txn, `[{"path":"/srv/shop/.env","key":"DB_PASSWORD","value":"`+first+`"}]`)
	save(t, j, txn, `[{"path":"/etc/backup/db.env","value":"`+second+`"}]`)
	if got := load(t, j, txn); !strings.Contains(got, second) {
		t.Fatalf("Load %s = %q", txn, got)
	}
	record(t, j, reconcile.Record{Txn: txn, Secret: "db-password", Type: reconcile.RecordEnd, Outcome: reconcile.OutcomeRolledBack})
	if err := j.Drop(ctx, txn); err != nil {
		t.Fatalf("Drop %s: %v", txn, err)
	}
	return []string{first, second}
}

func record(t *testing.T, j *Journal, r reconcile.Record) {
	t.Helper()
	r.Time = t0
	if err := j.Record(context.Background(), r); err != nil {
		t.Fatalf("Record: %v", err)
	}
}

// copyDir copies every regular file under src to a new directory, as a backup would.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o600)
	})
	if err != nil {
		t.Fatalf("copy the state dir: %v", err)
	}
	return dst
}

// readAll returns the content of every regular file under dir, by path.
func readAll(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		files[path], err = os.ReadFile(path)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// identitiesIn finds every age X25519 identity in any file: key files, and any left in journal.db.
func identitiesIn(t *testing.T, files map[string][]byte) []age.Identity {
	t.Helper()
	var ids []age.Identity
	for _, data := range files {
		for _, s := range identityRE.FindAll(data, -1) {
			if id, err := age.ParseX25519Identity(string(s)); err == nil {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// decryptAnywhere tries every identity against every age header in every file and returns what it
// recovers. A header that a key opens but whose payload cannot be delimited still counts: it returns a
// description of it, so the file key alone failing the test.
func decryptAnywhere(t *testing.T, files map[string][]byte, ids []age.Identity) (plain []string, headers int) {
	t.Helper()
	for path, data := range files {
		for off := 0; ; {
			i := bytes.Index(data[off:], []byte(ageHeader))
			if i < 0 {
				break
			}
			start := off + i
			off = start + 1
			headers++
			if len(ids) == 0 {
				continue
			}
			hdr, err := age.ExtractHeader(bytes.NewReader(data[start:]))
			if err != nil {
				continue
			}
			fileKey, err := age.DecryptHeader(hdr, ids...)
			if err != nil {
				continue
			}
			plain = append(plain, payload(data[start:], len(hdr), fileKey, path))
		}
	}
	return plain, headers
}

// payload recovers the plaintext after a header whose file key is known, trying every length up to a
// few KiB (bbolt does not record where a freed value ended).
func payload(data []byte, hdrLen int, fileKey []byte, path string) string {
	id := age.NewInjectedFileKeyIdentity(fileKey)
	limit := min(len(data), hdrLen+16+4096+16)
	for end := hdrLen + 16 + 16; end <= limit; end++ {
		r, err := age.Decrypt(bytes.NewReader(data[:end]), id)
		if err != nil {
			continue
		}
		if p, err := io.ReadAll(r); err == nil {
			return string(p)
		}
	}
	return fmt.Sprintf("(a file key opened in %s, payload not delimited)", path)
}

// checkCopy copies dir and fails if any value in gone decrypts, or shows in the clear, from the copy.
// Every value in open must still decrypt: the transaction holding it has not ended (a resume needs it),
// and it proves that the scan finds what is there.
func checkCopy(t *testing.T, dir string, gone, open []string) {
	t.Helper()
	files := readAll(t, copyDir(t, dir))
	ids := identitiesIn(t, files)
	plain, headers := decryptAnywhere(t, files, ids)
	t.Logf("copy of the state dir: %d files, %d age identities, %d age headers, %d opened", len(files), len(ids), headers, len(plain))
	recovered := strings.Join(plain, "\n")
	for _, v := range gone {
		if strings.Contains(recovered, v) {
			t.Errorf("the old value %s of an ended transaction decrypts from a copy of the state dir", v)
		}
		for path, data := range files {
			if bytes.Contains(data, []byte(v)) {
				t.Errorf("the old value %s is in the clear in %s", v, path)
			}
		}
	}
	for _, v := range open {
		if !strings.Contains(recovered, v) {
			t.Errorf("the value %s of an open transaction does not decrypt from the copy: the scan is blind", v)
		}
	}
}

func TestCopiedStateDirDecryptsNoOldValue(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	j := open(t, dir)

	var gone []string
	for i := range 6 {
		gone = append(gone, transaction(t, j, fmt.Sprintf("t%d", i))...)
	}
	// A pending revocation keeps the old value until a probe sees it rejected, then it goes too.
	pendingOld := marker(t, "old-pending")
	save(t, j, "pending/smtp-key/fp:cccc", `"`+pendingOld+`"`)
	record(t, j, reconcile.Record{Txn: "t5", Secret: "smtp-key", Type: reconcile.RecordPending, FromFP: "fp:cccc"})
	if got := load(t, j, "pending/smtp-key/fp:cccc"); !strings.Contains(got, pendingOld) {
		t.Fatalf("Load of the pending value = %q", got)
	}
	stillPending := marker(t, "still-pending")
	save(t, j, "pending/api-key/fp:dddd", `"`+stillPending+`"`)

	// One transaction is still open: its snapshot must survive, and decrypt (a resume needs it).
	openValue := marker(t, "open")
	record(t, j, reconcile.Record{Txn: "t9", Secret: "api-key", Type: reconcile.RecordBegin})
	save(t, j, "t9", `[{"path":"/srv/shop/.env","key":"API_KEY","value":"`+openValue+`"}]`)

	t.Run("pending kept until seen revoked", func(t *testing.T) {
		checkCopy(t, dir, gone, []string{pendingOld, stillPending, openValue})
	})
	record(t, j, reconcile.Record{Txn: "t5", Secret: "smtp-key", Type: reconcile.RecordRevokedSeen, FromFP: "fp:cccc"})
	if err := j.Drop(ctx, "pending/smtp-key/fp:cccc"); err != nil {
		t.Fatal(err)
	}
	gone = append(gone, pendingOld)

	t.Run("while open", func(t *testing.T) { checkCopy(t, dir, gone, []string{stillPending, openValue}) })
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	t.Run("after close", func(t *testing.T) { checkCopy(t, dir, gone, []string{stillPending, openValue}) })

	// A kill -9 while t9 is open: the next Open resumes it with its key, then it ends.
	j = open(t, dir)
	if got := load(t, j, "t9"); !strings.Contains(got, openValue) {
		t.Fatalf("Load of the open transaction after reopen = %q", got)
	}
	record(t, j, reconcile.Record{Txn: "t9", Secret: "api-key", Type: reconcile.RecordEnd, Outcome: reconcile.OutcomeRecovered})
	if err := j.Drop(ctx, "t9"); err != nil {
		t.Fatal(err)
	}
	gone = append(gone, openValue)
	t.Run("after the resumed transaction ended", func(t *testing.T) { checkCopy(t, dir, gone, []string{stillPending}) })
}

// ageHeadersIn counts the age ciphertexts in journal.db, live or in freed pages.
func ageHeadersIn(t *testing.T, dir string) int {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, dbName))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(raw, []byte(ageHeader))
}

func keyFiles(t *testing.T, j *Journal) []string {
	t.Helper()
	files, err := j.stashKeyFiles()
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestDropCompactsTheJournal(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	j := open(t, dir)
	for i := range 20 {
		save(t, j, fmt.Sprintf("t%d", i), plaintext+strings.Repeat("x", i*300))
		record(t, j, reconcile.Record{Txn: fmt.Sprintf("t%d", i), Secret: "s", Type: reconcile.RecordBegin})
	}
	if n := ageHeadersIn(t, dir); n < 20 {
		t.Fatalf("journal.db holds %d ciphertexts before the drops, want at least 20", n)
	}
	for i := range 20 {
		if err := j.Drop(ctx, fmt.Sprintf("t%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := ageHeadersIn(t, dir); n != 0 {
		t.Errorf("journal.db holds %d ciphertexts after every stash was dropped, want 0 (freed pages not compacted)", n)
	}
	if files := keyFiles(t, j); len(files) != 0 {
		t.Errorf("stash keys left after every stash was dropped: %v", files)
	}
	// The journal still works on the compacted file: records, sequence and meta survive.
	if err := j.SetApplied(ctx, "abc123"); err != nil {
		t.Fatal(err)
	}
	record(t, j, reconcile.Record{Txn: "t99", Secret: "s", Type: reconcile.RecordBegin})
	all, err := j.All()
	if err != nil || len(all) != 21 || all[20].Txn != "t99" {
		t.Fatalf("records after compaction: %d, %v", len(all), err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j = open(t, dir)
	if c, err := j.Applied(); err != nil || c != "abc123" {
		t.Fatalf("Applied after compaction and reopen = %q, %v", c, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, dbName)); err != nil || fi.Mode().Perm() != fileMode {
		t.Fatalf("journal.db after compaction: %v, %v", fi.Mode(), err)
	}
	if _, err := os.Stat(filepath.Join(dir, dbName+compactSuffix)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("compaction left its temporary file: %v", err)
	}
}

// A crash inside Drop, after the entry's delete was committed but before its key was shredded and the
// journal compacted: the next Open finishes both.
func TestOpenFinishesAnInterruptedDrop(t *testing.T) {
	dir := t.TempDir()
	j := open(t, dir)
	save(t, j, "t1", plaintext)
	key := j.stashKeyPath("t1")
	if err := j.update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketStash).Delete([]byte("t1")); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keyCompact, []byte("1"))
	}); err != nil {
		t.Fatal(err)
	}
	// And a key created by a Save that died before storing anything.
	if _, err := j.stashKey("t2", true); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if ageHeadersIn(t, dir) == 0 {
		t.Fatal("the simulated crash left no ciphertext behind: the test proves nothing")
	}
	j = open(t, dir)
	if _, err := os.Stat(key); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the key of the dropped entry survived Open: %v", err)
	}
	if files := keyFiles(t, j); len(files) != 0 {
		t.Errorf("orphan keys survived Open: %v", files)
	}
	if n := ageHeadersIn(t, dir); n != 0 {
		t.Errorf("journal.db holds %d ciphertexts after Open finished the drop, want 0", n)
	}
}

// A state dir of an earlier version: one snapshot.key for every entry. Its entries still load; the key
// is shredded once the last of them is dropped.
func TestLegacySnapshotKeyIsRetired(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	j := open(t, dir)
	legacy, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, keyName), "# rekey snapshot key\n"+legacy.String()+"\n", 0o600)
	ct, err := encrypt(legacy.Recipient(), []byte(plaintext))
	if err != nil {
		t.Fatal(err)
	}
	if err := j.update(func(tx *bolt.Tx) error { return tx.Bucket(bucketStash).Put([]byte("old"), ct) }); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j = open(t, dir)
	if _, err := os.Stat(filepath.Join(dir, keyName)); err != nil {
		t.Fatalf("Open retired the snapshot key an entry still needs: %v", err)
	}
	if got := load(t, j, "old"); got != plaintext {
		t.Fatalf("Load of an entry of an earlier version = %q", got)
	}
	save(t, j, "new", "x")
	if err := j.Drop(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, keyName)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the snapshot key survived the drop of the last entry that needed it: %v", err)
	}
	if got := load(t, j, "new"); got != "x" {
		t.Fatalf("Load of a new entry after the snapshot key was retired = %q", got)
	}
}

func TestShredOverwritesBeforeUnlinking(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "k.key")
	id, err := age.GenerateX25519Identity() // made here: no key, even a fake one, is kept in the source
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, id.String()+"\n", 0o600)
	// A second link shows what the unlinked inode holds afterwards.
	peek := filepath.Join(dir, "peek")
	if err := os.Link(path, peek); err != nil {
		t.Fatal(err)
	}
	if err := shred(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("shred left the file: %v", err)
	}
	left, err := os.ReadFile(peek)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) == 0 || bytes.Count(left, []byte{0}) != len(left) {
		t.Fatalf("the shredded inode holds %q, want zeros", left)
	}
	// A symlink is removed, its target left alone.
	target := filepath.Join(dir, "target")
	writeFile(t, target, "keep", 0o600)
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	if err := shred(path); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(target); err != nil || string(b) != "keep" {
		t.Fatalf("shred of a symlink touched its target: %q, %v", b, err)
	}
	if err := shred(path); err != nil {
		t.Fatalf("shred of a missing file: %v", err)
	}
}

// TestOpenDropsTheStashOfAnEndedTransaction: a kill -9 between a transaction's end record and its Drop
// (or a Drop that failed) leaves the snapshot and its key; the next Open shreds them, so a copy of the
// state dir taken after that decrypts no old value. A transaction still open keeps its snapshot.
func TestOpenDropsTheStashOfAnEndedTransaction(t *testing.T) {
	dir := t.TempDir()
	j := open(t, dir)
	ended, openValue := marker(t, "old-ended"), marker(t, "open")
	record(t, j, reconcile.Record{Txn: "t1", Secret: "db-password", Type: reconcile.RecordBegin})
	save(t, j, "t1", `[{"path":"/srv/shop/.env","key":"DB_PASSWORD","value":"`+ended+`"}]`)
	record(t, j, reconcile.Record{Txn: "t1", Secret: "db-password", Type: reconcile.RecordEnd, Outcome: reconcile.OutcomeRotated})
	record(t, j, reconcile.Record{Txn: "t2", Secret: "api-key", Type: reconcile.RecordBegin})
	save(t, j, "t2", `[{"path":"/srv/shop/.env","key":"API_KEY","value":"`+openValue+`"}]`)
	if err := j.Close(); err != nil { // killed here: no Drop of t1
		t.Fatal(err)
	}
	t.Run("before the next open", func(t *testing.T) { checkCopy(t, dir, nil, []string{ended, openValue}) })

	j = open(t, dir)
	defer j.Close()
	if _, err := j.Load(context.Background(), "t1"); err == nil {
		t.Error("the ended transaction's stash is still there after Open")
	}
	if got := load(t, j, "t2"); !strings.Contains(got, openValue) {
		t.Fatalf("the open transaction's stash = %q", got)
	}
	t.Run("after the next open", func(t *testing.T) { checkCopy(t, dir, []string{ended}, []string{openValue}) })
}
