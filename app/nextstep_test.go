package app

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/reconcile"
)

// TestOutcomeSaysTheNextStep: every verdict other than OK ends with what to do, per secret: the cause
// when rekey can name it and `rekey apply`.
func TestOutcomeSaysTheNextStep(t *testing.T) {
	state := t.TempDir()
	s := &Session{Options: Options{StateDir: state}, Desired: reconcile.Desired{Secrets: []reconcile.Secret{
		{Name: "db-password", Server: &reconcile.Server{Name: "db"}}, {Name: "session-key"},
	}}}
	for _, tc := range []struct {
		name string
		res  reconcile.Result
		err  error
		want []string
	}{
		{"rolled back, state dir full", reconcile.Result{Secret: "session-key", Outcome: reconcile.OutcomeRolledBack,
			Reason: "snapshot: failed to write " + state + "/stash-keys/k.key: no space left on device"}, nil,
			[]string{"next (session-key):", "the state dir " + state + " is full", "then run `rekey apply`"}},
		{"rolled back, .env full", reconcile.Result{Secret: "session-key", Outcome: reconcile.OutcomeRolledBack,
			Reason: "write /srv/.env:A: no space left on device"}, nil,
			[]string{"a filesystem is full", "then run `rekey apply`"}},
		{"finalize failed on a server", reconcile.Result{Secret: "db-password", Outcome: reconcile.OutcomeFinalizeFailed,
			Reason: "drain: postgres db: server unreachable"}, nil,
			[]string{"the new value is live; once db is reachable run `rekey apply` to finish"}},
		{"rollback failed", reconcile.Result{Secret: "session-key", Outcome: reconcile.OutcomeFailed,
			Reason: "recreate worker: failed to connect to the docker API at unix:///var/run/docker.sock; rollback failed: …"}, errors.New("stopped"),
			[]string{"stopped\n", "dockerd", "run `rekey apply` again", "`rekey status`"}},
		{"nothing begun", reconcile.Result{Secret: "session-key", Outcome: reconcile.OutcomeBlocked,
			Reason: "begin: failed to write the journal"}, nil,
			[]string{"nothing was changed", "then run `rekey apply`"}},
	} {
		err := s.Outcome([]reconcile.Result{tc.res, {Secret: "other", Outcome: reconcile.OutcomeInSync}}, tc.err)
		var out *OutcomeError
		if !errors.As(err, &out) {
			t.Fatalf("%s: Outcome = %v, want an OutcomeError", tc.name, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(out.Msg, w) {
				t.Errorf("%s: the message does not say %q:\n%s", tc.name, w, out.Msg)
			}
		}
		if strings.Contains(out.Msg, "next (other)") {
			t.Errorf("%s: a next step for a secret in sync:\n%s", tc.name, out.Msg)
		}
	}
	if err := s.Outcome([]reconcile.Result{{Secret: "session-key", Outcome: reconcile.OutcomeRotated}}, nil); err != nil {
		t.Errorf("Outcome after a rotation = %v, want nil", err)
	}
}

// TestOutcomeExplainsAnImmutableJournal: a journal write refused because journal.db is immutable names
// the file and chattr -i.
func TestOutcomeExplainsAnImmutableJournal(t *testing.T) {
	state := t.TempDir()
	path := filepath.Join(state, "journal.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("chattr", "+i", path).CombinedOutput(); err != nil {
		t.Skipf("chattr +i not supported here: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("chattr", "-i", path).Run() })
	s := &Session{Options: Options{StateDir: state}}
	res := reconcile.Result{Secret: "session-key", Outcome: reconcile.OutcomeRolledBack,
		Reason: "recreate worker: failed to write the journal: write " + path + ": operation not permitted"}
	err := s.Outcome([]reconcile.Result{res}, nil)
	if err == nil || !strings.Contains(err.Error(), path+" is immutable") || !strings.Contains(err.Error(), "chattr -i") {
		t.Errorf("Outcome = %v, want %s named immutable with chattr -i", err, path)
	}
}
