package journal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/reconcile"
)

// The crash helper: when the test binary is re-executed with these variables set, TestMain runs
// helperKillAfter instead of the tests.
const (
	envHelper = "REKEY_JOURNAL_TEST_HELPER"
	envDir    = "REKEY_JOURNAL_TEST_DIR"
)

func TestMain(m *testing.M) {
	if os.Getenv(envHelper) == "kill-after" {
		helperKillAfter(os.Getenv(envDir))
		return
	}
	os.Exit(m.Run())
}

// helperKillAfter records 5 records with WithKillAfter(3): it must die of SIGKILL after the third.
func helperKillAfter(dir string) {
	j, err := Open(dir, WithKillAfter(3))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for i := 1; i <= 5; i++ {
		if err := j.Record(context.Background(), rec("db-password", "t1", reconcile.RecordIntent, fmt.Sprintf("step-%d", i))); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	fmt.Fprintln(os.Stderr, "still alive after 5 records")
	os.Exit(3)
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func rec(secret, txn string, typ reconcile.RecordType, step string) reconcile.Record {
	return reconcile.Record{Time: t0, Txn: txn, Secret: secret, Type: typ, Step: step}
}

func open(t *testing.T, dir string, opts ...Option) *Journal {
	t.Helper()
	j, err := Open(dir, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = j.Close() })
	return j
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestRecordsSurviveReopenInOrder(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")
	j := open(t, dir)

	var want []reconcile.Record
	for i := range 260 { // more than 255 to catch a key that does not sort numerically
		secret := "api-key"
		if i%3 == 0 {
			secret = "db-password"
		}
		r := reconcile.Record{Time: t0.Add(time.Duration(i) * time.Second), Txn: "t" + secret, Secret: secret,
			Type: reconcile.RecordIntent, Step: fmt.Sprintf("step-%03d", i), FromFP: "fp-old", ToFP: "fp-new",
			FinalizeAfter: t0.Add(time.Hour)}
		if err := j.Record(ctx, r); err != nil {
			t.Fatal(err)
		}
		want = append(want, r)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}

	j = open(t, dir)
	all, err := j.All()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(all, want) {
		t.Fatalf("All after reopen: got %d records, want %d (first got %+v)", len(all), len(want), all[0])
	}
	db, err := j.Records("db-password")
	if err != nil {
		t.Fatal(err)
	}
	if len(db) != 87 {
		t.Fatalf("Records(db-password): got %d, want 87", len(db))
	}
	for i, r := range db {
		if want := fmt.Sprintf("step-%03d", i*3); r.Step != want || r.Secret != "db-password" {
			t.Fatalf("Records(db-password)[%d] = %s/%s, want db-password/%s", i, r.Secret, r.Step, want)
		}
	}
	none, err := j.Records("nope")
	if err != nil || len(none) != 0 {
		t.Fatalf("Records(nope) = %v, %v; want none", none, err)
	}

	// New records continue after the old ones.
	if err := j.Record(ctx, rec("db-password", "t2", reconcile.RecordBegin, "last")); err != nil {
		t.Fatal(err)
	}
	all, _ = j.All()
	if got := all[len(all)-1].Step; len(all) != 261 || got != "last" {
		t.Fatalf("after another record: %d records, last %q", len(all), got)
	}
}

func TestRecordCanceledContext(t *testing.T) {
	j := open(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := j.Record(ctx, rec("s", "t", reconcile.RecordBegin, "")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Record with a canceled context: %v", err)
	}
}

func TestTxnReplay(t *testing.T) {
	ctx := context.Background()
	j := open(t, t.TempDir())
	fin := t0.Add(24 * time.Hour)
	for _, r := range []reconcile.Record{
		{Time: t0, Txn: "t1", Secret: "app-key", Revision: "abc", Type: reconcile.RecordBegin, FromFP: "f1", ToFP: "f2"},
		{Time: t0, Txn: "t1", Secret: "app-key", Type: reconcile.RecordPhase, Phase: reconcile.PhaseVerified, FinalizeAfter: fin},
		{Time: t0, Txn: "t9", Secret: "other", Type: reconcile.RecordBegin},
		{Time: t0, Txn: "t1", Secret: "app-key", Type: reconcile.RecordIntent, Step: "roll web", Consumer: "web", Roll: reconcile.Recreate},
		{Time: t0, Txn: "t1", Secret: "app-key", Type: reconcile.RecordDone, Step: "roll web"},
		{Time: t0, Txn: "t1", Secret: "app-key", Type: reconcile.RecordIntent, Step: "roll worker", Consumer: "worker", Roll: reconcile.Restart},
		{Time: t0, Txn: "t9", Secret: "other", Type: reconcile.RecordEnd, Outcome: reconcile.OutcomeRotated},
	} {
		if err := j.Record(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	txn, err := j.Txn("app-key")
	if err != nil {
		t.Fatal(err)
	}
	want := &reconcile.Txn{ID: "t1", Secret: "app-key", Revision: "abc", Phase: reconcile.PhaseVerified,
		FromFP: "f1", ToFP: "f2", FinalizeAfter: fin, Started: t0,
		Rolled: []reconcile.Consumer{{Name: "web", Action: reconcile.Recreate}, {Name: "worker", Action: reconcile.Restart}}}
	if !reflect.DeepEqual(txn, want) {
		t.Fatalf("Txn(app-key) = %+v, want %+v", txn, want)
	}
	if txn, err := j.Txn("other"); err != nil || txn != nil {
		t.Fatalf("Txn(other) = %+v, %v; want nil (ended)", txn, err)
	}
	if txn, err := j.Txn("unknown"); err != nil || txn != nil {
		t.Fatalf("Txn(unknown) = %+v, %v; want nil", txn, err)
	}

	if err := j.Record(ctx, reconcile.Record{Time: t0, Txn: "t1", Secret: "app-key", Type: reconcile.RecordEnd,
		Outcome: reconcile.OutcomeVerified}); err != nil {
		t.Fatal(err)
	}
	if txn, err := j.Txn("app-key"); err != nil || txn != nil {
		t.Fatalf("Txn(app-key) after end = %+v, %v; want nil", txn, err)
	}
}

func TestSecondOpenIsRefused(t *testing.T) {
	dir := t.TempDir()
	j := open(t, dir)

	start := time.Now()
	j2, err := Open(dir, WithLockTimeout(300*time.Millisecond))
	if err == nil {
		_ = j2.Close()
		t.Fatal("second Open of the same state dir succeeded")
	}
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "state dir "+dir+" is in use by another rekey process") {
		t.Fatalf("second Open: %v", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 5*time.Second {
		t.Fatalf("second Open gave up after %v, want about 300ms", d)
	}

	// Once the first is closed, the state dir can be opened again.
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	open(t, dir, WithLockTimeout(300*time.Millisecond))
}

func TestModes(t *testing.T) {
	for _, umask := range []int{0o022, 0o000, 0o077} {
		t.Run(fmt.Sprintf("umask %03o", umask), func(t *testing.T) {
			old := syscall.Umask(umask)
			defer syscall.Umask(old)

			dir := filepath.Join(t.TempDir(), "a", "state")
			j := open(t, dir)
			if err := j.Save(context.Background(), "t1", []byte("A=1\n")); err != nil {
				t.Fatal(err)
			}
			for path, want := range map[string]os.FileMode{
				dir:                         0o700,
				filepath.Join(dir, dbName):  0o600,
				filepath.Join(dir, keysDir): 0o700,
				j.stashKeyPath("t1"):        0o600,
			} {
				if got := mode(t, path); got != want {
					t.Errorf("mode of %s = %v, want %v", path, got, want)
				}
			}
		})
	}
}

func TestRefusesOpenStateDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir)
	if err == nil || !strings.Contains(err.Error(), "chmod 700 "+dir) {
		t.Fatalf("Open of a world-writable state dir: %v", err)
	}

	// A group-readable but not writable dir is accepted.
	if err := os.Chmod(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	open(t, dir)
}

func TestRefusesOpenJournalFile(t *testing.T) {
	dir := t.TempDir()
	j := open(t, dir)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, dbName), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("Open with a group-readable journal.db: %v", err)
	}
}

// TestKillAfter re-executes the test binary, which records 5 records with WithKillAfter(3): it must
// die of SIGKILL with exactly 3 records durable in the journal.
func TestKillAfter(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envHelper+"=kill-after", envDir+"="+dir)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("helper: want death by SIGKILL, got %v\n%s", err, out)
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("helper: want death by SIGKILL, got %v\n%s", err, out)
	}

	j := open(t, dir)
	all, err := j.All()
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, r := range all {
		steps = append(steps, r.Step)
	}
	if want := []string{"step-1", "step-2", "step-3"}; !reflect.DeepEqual(steps, want) {
		t.Fatalf("records after the kill: %q, want %q", steps, want)
	}
}

func TestAppliedSurvivesReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	j := open(t, dir)
	if got, err := j.Applied(); err != nil || got != "" {
		t.Fatalf("Applied before any = %q, %v", got, err)
	}
	if err := j.SetApplied(context.Background(), "c0ffee"); err != nil {
		t.Fatal(err)
	}
	j.Close()
	j = open(t, dir)
	if got, _ := j.Applied(); got != "c0ffee" {
		t.Errorf("Applied after reopen = %q", got)
	}
}

func TestSinceIsRecordedOnce(t *testing.T) {
	j := open(t, filepath.Join(t.TempDir(), "state"))
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	first, err := j.Since(context.Background(), "k", t0)
	if err != nil || !first.Equal(t0) {
		t.Fatalf("first Since = %v, %v", first, err)
	}
	again, _ := j.Since(context.Background(), "k", t0.Add(time.Hour))
	if !again.Equal(t0) {
		t.Errorf("second Since = %v, want the first time", again)
	}
}

func TestLastWriteBack(t *testing.T) {
	j := open(t, filepath.Join(t.TempDir(), "state"))
	if got, err := j.LastWriteBack("k"); err != nil || !got.IsZero() {
		t.Fatalf("before any: %v, %v", got, err)
	}
	t0 := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	if err := j.MarkWriteBack(context.Background(), "k", t0); err != nil {
		t.Fatal(err)
	}
	if got, _ := j.LastWriteBack("k"); !got.Equal(t0) {
		t.Errorf("LastWriteBack = %v", got)
	}
}
