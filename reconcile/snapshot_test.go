package reconcile

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// wholeFiles is a Reader/Writer of KEY=value files kept whole, with the whole-file ports.
type wholeFiles struct {
	files   map[string]string
	tearOn  string // WriteValue to this key writes half the new file and fails
	writes  int
	stashed map[string][]byte
}

func (w *wholeFiles) ReadValue(_ context.Context, l Location) (string, error) {
	for _, line := range strings.Split(w.files[l.Path], "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && k == l.Key {
			return v, nil
		}
	}
	return "", nil
}

func (w *wholeFiles) WriteValue(_ context.Context, l Location, v string) error {
	w.writes++
	lines := strings.Split(strings.TrimSuffix(w.files[l.Path], "\n"), "\n")
	found := false
	for i, line := range lines {
		if k, _, ok := strings.Cut(line, "="); ok && k == l.Key {
			lines[i], found = k+"="+v, true
		}
	}
	if !found {
		lines = append(lines, l.Key+"="+v)
	}
	next := strings.Join(lines, "\n") + "\n"
	if l.Key == w.tearOn {
		w.files[l.Path] = next[:len(next)/2]
		return errors.New("no space left on device")
	}
	w.files[l.Path] = next
	return nil
}

func (w *wholeFiles) ReadFile(_ context.Context, path string) ([]byte, bool, error) {
	s, ok := w.files[path]
	return []byte(s), ok, nil
}

func (w *wholeFiles) WriteFile(_ context.Context, path string, data []byte) error {
	w.files[path] = string(data)
	return nil
}

func (w *wholeFiles) Save(_ context.Context, txn string, data []byte) error {
	w.stashed[txn] = data
	return nil
}

func (w *wholeFiles) Load(_ context.Context, txn string) ([]byte, error) {
	if d, ok := w.stashed[txn]; ok {
		return d, nil
	}
	return nil, errors.New("no snapshot")
}

func (w *wholeFiles) Drop(context.Context, string) error { return nil }

type nopPorts struct{}

func (nopPorts) Roll(context.Context, Consumer) error               { return nil }
func (nopPorts) WaitHealthy(context.Context, string) error          { return nil }
func (nopPorts) Verify(context.Context, Check, Scope) error         { return errors.New("503") }
func (nopPorts) Record(context.Context, Record) error               { return nil }
func (nopPorts) Observe(context.Context, Desired) (Observed, error) { return Observed{}, nil }

const envPath = "/srv/app/.env"

func (w *wholeFiles) executor() *Executor {
	return &Executor{
		Values: func(string) (string, bool) { return "new", true },
		Reader: w, Writer: w, Stash: w, Roller: nopPorts{}, Health: nopPorts{}, Verifier: nopPorts{},
		Journal: nopPorts{}, Now: time.Now, NewID: func() string { return "t1" },
	}
}

func rotation() SecretPlan {
	cur := Location{Path: envPath, Key: "TOKEN"}
	return SecretPlan{Secret: "token", Action: ActionRotate, Steps: []Step{
		{Kind: StepBegin}, {Kind: StepSnapshot, Locations: []Location{cur}},
		{Kind: StepWrite, Location: cur, Value: ValueDesired},
		{Kind: StepRoll, Consumer: "app", Roll: Recreate}, {Kind: StepVerify, Consumer: "app", Check: &Check{}},
		{Kind: StepVerified}, {Kind: StepCommitted},
	}}
}

// recovery is the plan that rolls back transaction t1 interrupted while rolling.
func recovery() SecretPlan {
	return SecretPlan{Secret: "token", Action: ActionRecover, Txn: &Txn{ID: "t1", Phase: PhaseRolling},
		Steps: []Step{{Kind: StepRestore}, {Kind: StepCommitted}}}
}

// TestRestoreRepairsTornFile: a write that failed half-way (the file torn) is undone by the whole copy.
func TestRestoreRepairsTornFile(t *testing.T) {
	orig := "A=1\nTOKEN=old\nB=2\nC=3\n"
	w := &wholeFiles{files: map[string]string{envPath: orig}, tearOn: "TOKEN", stashed: map[string][]byte{}}
	res := w.executor().Run(context.Background(), rotation())
	if res.Outcome != OutcomeRolledBack {
		t.Fatalf("outcome = %s (%s)", res.Outcome, res.Reason)
	}
	if w.files[envPath] != orig {
		t.Errorf("file = %q, want %q", w.files[envPath], orig)
	}
}

// TestRecoveryKeepsLaterChanges: a transaction interrupted after its write is recovered after someone
// else changed the same file: only the secret's value goes back, the other change stays. When nothing
// else changed it, the whole copy goes back.
func TestRecoveryKeepsLaterChanges(t *testing.T) {
	for _, otherChange := range []bool{false, true} {
		orig := "A=1\nTOKEN=old\n"
		w := &wholeFiles{files: map[string]string{envPath: orig}, stashed: map[string][]byte{}}
		ex := w.executor()
		crashed := rotation()
		crashed.Steps = crashed.Steps[:3] // begin, snapshot, write: then the process died
		ex.Run(context.Background(), crashed)
		if !strings.Contains(w.files[envPath], "TOKEN=new") {
			t.Fatalf("write did not happen: %q", w.files[envPath])
		}
		want := orig
		if otherChange {
			w.files[envPath] = strings.Replace(w.files[envPath], "A=1", "A=2", 1)
			want = "A=2\nTOKEN=old\n"
		}
		res := ex.Run(context.Background(), recovery())
		if res.Outcome != OutcomeRecovered {
			t.Fatalf("outcome = %s (%s)", res.Outcome, res.Reason)
		}
		if w.files[envPath] != want {
			t.Errorf("other change %v: file = %q, want %q", otherChange, w.files[envPath], want)
		}
	}
}

// TestLoadsOldSnapshotFormat: a snapshot stashed by an older rekey (a list of values) still restores.
func TestLoadsOldSnapshotFormat(t *testing.T) {
	w := &wholeFiles{files: map[string]string{envPath: "TOKEN=new\n"}, stashed: map[string][]byte{
		"t1": []byte(`[{"path":"` + envPath + `","key":"TOKEN","value":"old"}]`),
	}}
	res := w.executor().Run(context.Background(), recovery())
	if res.Outcome != OutcomeRecovered || w.files[envPath] != "TOKEN=old\n" {
		t.Errorf("outcome %s, file %q", res.Outcome, w.files[envPath])
	}
}

// failingStash fails every Save after the first (the snapshot): the state dir is full.
type failingStash struct{ *wholeFiles }

func (f failingStash) Save(ctx context.Context, txn string, data []byte) error {
	if _, ok := f.stashed[txn]; ok {
		return errors.New("no space left on device")
	}
	return f.wholeFiles.Save(ctx, txn, data)
}

// TestFullStateDirStillRollsBack: when the stash cannot record a write's intent, the write does not
// happen, and the rollback still completes.
func TestFullStateDirStillRollsBack(t *testing.T) {
	orig := "A=1\nTOKEN=old\n"
	w := &wholeFiles{files: map[string]string{envPath: orig}, stashed: map[string][]byte{}}
	ex := w.executor()
	ex.Stash = failingStash{w}
	res := ex.Run(context.Background(), rotation())
	if res.Outcome != OutcomeRolledBack || w.writes != 0 || w.files[envPath] != orig {
		t.Errorf("outcome %s (%s), %d writes, file %q", res.Outcome, res.Reason, w.writes, w.files[envPath])
	}
}
