package live

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/internal/testenv"

	"github.com/rekeyhq/rekey/reconcile"
)

// memStash, okStack and memJournal are the executor's other ports, in memory: these tests are about
// the real files.
type memStash map[string][]byte

func (m memStash) Save(_ context.Context, txn string, data []byte) error {
	m[txn] = bytes.Clone(data)
	return nil
}

func (m memStash) Load(_ context.Context, txn string) ([]byte, error) {
	if d, ok := m[txn]; ok {
		return d, nil
	}
	return nil, fmt.Errorf("no snapshot for %s", txn)
}

func (m memStash) Drop(_ context.Context, txn string) error {
	delete(m, txn)
	return nil
}

type okStack struct{ verify func() error }

func (okStack) Roll(context.Context, reconcile.Consumer) error { return nil }
func (okStack) WaitHealthy(context.Context, string) error      { return nil }
func (s okStack) Verify(context.Context, reconcile.Check, reconcile.Scope) error {
	if s.verify == nil {
		return nil
	}
	return s.verify()
}

type memJournal []reconcile.Record

func (j *memJournal) Record(_ context.Context, r reconcile.Record) error {
	*j = append(*j, r)
	return nil
}

// rotateAppKey runs an app-key rotation of SESSION_KEY in env through the real Files: previous takes
// the old value, current the new one, then the app rolls and is verified.
func rotateAppKey(env, next string, verify func() error) reconcile.Result {
	cur := reconcile.Location{Path: env, Key: "SESSION_KEY"}
	prev := reconcile.Location{Path: env, Key: "SESSION_KEY_PREVIOUS"}
	files := Files{Root: filepath.Dir(env)}
	ex := &reconcile.Executor{
		Values: func(string) (string, bool) { return next, true },
		Reader: files, Writer: files, Stash: memStash{},
		Roller: okStack{}, Health: okStack{}, Verifier: okStack{verify: verify}, Journal: &memJournal{},
		Now: time.Now, NewID: func() string { return "txn-1" },
	}
	sp := reconcile.SecretPlan{Secret: "session-key", Action: reconcile.ActionRotate, Steps: []reconcile.Step{
		{Kind: reconcile.StepBegin},
		{Kind: reconcile.StepSnapshot, Locations: []reconcile.Location{cur, prev}},
		{Kind: reconcile.StepWrite, Location: prev, Value: reconcile.ValueOldCurrent, From: cur},
		{Kind: reconcile.StepWrite, Location: cur, Value: reconcile.ValueDesired},
		{Kind: reconcile.StepRoll, Consumer: "app", Roll: reconcile.Recreate},
		{Kind: reconcile.StepVerify, Consumer: "app", Check: &reconcile.Check{}},
		{Kind: reconcile.StepVerified},
		{Kind: reconcile.StepCommitted},
	}}
	return ex.Run(context.Background(), sp)
}

// envWith returns a .env of about n bytes assigning SESSION_KEY first, then distinct variables.
func envWith(n int) []byte {
	b := bytes.NewBufferString("SESSION_KEY=old-session-key-0123456789\nSESSION_KEY_PREVIOUS=\n")
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(b, "VAR_%04d=value-%04d\n", i, i)
	}
	return b.Bytes()
}

// TestRollbackAfterFullDiskKeepsEnvByteIdentical: on a real, full, small filesystem the second write of
// a rotation does not fit; the rotation rolls back and .env is byte for byte what it was. (The old
// write put the new head over the old content and lost the tail; the old rollback wrote the two values
// back into that damaged file and reported success.)
func TestRollbackAfterFullDiskKeepsEnvByteIdentical(t *testing.T) {
	dir := testenv.SmallTmpfs(t, "64k")
	env := filepath.Join(dir, ".env")
	orig := envWith(4000) // one page; the new value makes it two
	if err := os.WriteFile(env, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	testenv.FillUp(t, dir)
	res := rotateAppKey(env, string(bytes.Repeat([]byte("n"), 300)), nil)
	if res.Outcome != reconcile.OutcomeRolledBack {
		t.Fatalf("outcome = %s (%s), want rolled-back", res.Outcome, res.Reason)
	}
	if !bytes.Contains([]byte(res.Reason), []byte("no room")) {
		t.Errorf("reason does not say the disk is full: %s", res.Reason)
	}
	got, _ := os.ReadFile(env)
	if !bytes.Equal(got, orig) {
		t.Fatalf(".env is not byte-identical after the rollback: %d bytes (was %d)", len(got), len(orig))
	}
}

// TestRollbackRestoresWholeFile: a rotation that appended a variable the file did not have and failed
// verification leaves the file byte-identical (the old restore wrote the values back, leaving an
// appended SESSION_KEY_PREVIOUS= line).
func TestRollbackRestoresWholeFile(t *testing.T) {
	env := filepath.Join(t.TempDir(), ".env")
	orig := []byte("# app\nSESSION_KEY=old-key\nOTHER=1\n")
	if err := os.WriteFile(env, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	res := rotateAppKey(env, "new-key", func() error { return errors.New("503") })
	if res.Outcome != reconcile.OutcomeRolledBack {
		t.Fatalf("outcome = %s (%s)", res.Outcome, res.Reason)
	}
	if got, _ := os.ReadFile(env); !bytes.Equal(got, orig) {
		t.Fatalf(".env after the rollback = %q, want %q", got, orig)
	}
}

// TestRestoreFailureNeedsAttention: when the file cannot be put back (it became a symlink), the outcome
// is failed (exit 4) and the reason names the file, the transaction and the command to run.
func TestRestoreFailureNeedsAttention(t *testing.T) {
	dir := t.TempDir()
	env := filepath.Join(dir, ".env")
	if err := os.WriteFile(env, []byte("SESSION_KEY=old-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "elsewhere")
	if err := os.WriteFile(other, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	verify := errors.New("503")
	// The check runs after both writes: swap the file for a link before the restore.
	res := rotateAppKey(env, "new-key", func() error {
		if err := os.Remove(env); err != nil {
			return err
		}
		if err := os.Symlink(other, env); err != nil {
			return err
		}
		return verify
	})
	if res.Outcome != reconcile.OutcomeFailed {
		t.Fatalf("outcome = %s (%s), want failed", res.Outcome, res.Reason)
	}
	for _, want := range []string{env, "txn-1", "rekey apply"} {
		if !bytes.Contains([]byte(res.Reason), []byte(want)) {
			t.Errorf("reason %q does not name %q", res.Reason, want)
		}
	}
	if got, _ := os.ReadFile(other); string(got) != "x" {
		t.Errorf("the link's target changed: %q", got)
	}
}
