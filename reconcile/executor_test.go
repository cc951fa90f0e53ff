package reconcile

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// world is an in-memory stack: files hold values, consumers load the values of their secret when they
// roll. It implements every seam of the executor, so these tests exercise the real planner and executor.
type world struct {
	t        *testing.T
	now      time.Time
	files    map[Location]string
	stash    map[string][]byte
	failSave func(txn string) error
	failRoll func(consumer string) error
	loaded   map[string][2]string // consumer → (current, previous) it runs with
	records  []Record
	crashAt  int // panic right after the crashAt-th journal record, as a kill -9 would stop the process
	failWhen func(c Check, scope Scope) error
	ids      int
	hook     string // the token value the hook consumer runs
}

type crash struct{}

var (
	cur      = Location{Path: env, Key: "SESSION_SECRET"}
	prev     = Location{Path: env, Key: "SESSION_SECRET_PREVIOUS"}
	tokenLoc = Location{Path: env, Key: "HOOK_TOKEN"} // a second secret in the same file
)

func newWorld(t *testing.T, value string) *world {
	w := &world{t: t, now: t0, files: map[Location]string{cur: value, prev: ""},
		stash: map[string][]byte{}, loaded: map[string][2]string{}}
	w.loaded["app"] = [2]string{value, ""}
	w.loaded["worker"] = [2]string{value, ""}
	return w
}

func fp(v string) string {
	if v == "" {
		return ""
	}
	return "fp:" + v
}

func (w *world) ReadValue(_ context.Context, l Location) (string, error) { return w.files[l], nil }

func (w *world) WriteValue(_ context.Context, l Location, v string) error {
	w.files[l] = v
	return nil
}

func (w *world) Save(_ context.Context, txn string, data []byte) error {
	if w.failSave != nil {
		if err := w.failSave(txn); err != nil {
			return err
		}
	}
	w.stash[txn] = data
	return nil
}

func (w *world) Load(_ context.Context, txn string) ([]byte, error) {
	s, ok := w.stash[txn]
	if !ok {
		return nil, fmt.Errorf("no snapshot for %s", txn)
	}
	return s, nil
}

func (w *world) Drop(_ context.Context, txn string) error {
	delete(w.stash, txn)
	return nil
}

func (w *world) Roll(_ context.Context, c Consumer) error {
	if w.failRoll != nil {
		if err := w.failRoll(c.Name); err != nil {
			return err
		}
	}
	if c.Name == "hook" { // the token's consumer
		w.loaded[c.Name] = [2]string{w.files[cur], ""}
		w.hook = w.files[tokenLoc]
		return nil
	}
	w.loaded[c.Name] = [2]string{w.files[cur], w.files[prev]}
	return w.signatures()
}

// signatures fails the test the moment any consumer runs a key the app rejects: at no point of a
// rotation, a rollback or a recovery may a job be refused.
func (w *world) signatures() error {
	app := w.loaded["app"]
	for name, got := range w.loaded {
		if name == "hook" {
			continue
		}
		if got[0] != app[0] && got[0] != app[1] {
			w.t.Errorf("%s signs with a key the app rejects (app accepts %q/%q, %s signs with %q)", name, app[0], app[1], name, got[0])
			return errors.New("invalid signature")
		}
	}
	return nil
}

func (w *world) WaitHealthy(context.Context, string) error { return nil }

// Verify models the demo stack: the app accepts jobs signed with its current or previous key, and every
// consumer signs with its current key. A consumer whose key the app rejects is an invalid signature.
func (w *world) Verify(_ context.Context, c Check, s Scope) error {
	if err := w.signatures(); err != nil {
		return err
	}
	if w.failWhen != nil {
		return w.failWhen(c, s)
	}
	return nil
}

func (w *world) Record(_ context.Context, r Record) error {
	w.records = append(w.records, r)
	if w.crashAt > 0 && len(w.records) == w.crashAt {
		panic(crash{})
	}
	return nil
}

func (w *world) Observe(_ context.Context, d Desired) (Observed, error) {
	o := Observed{Now: w.now, Secrets: map[string]SecretState{}}
	for _, s := range d.Secrets {
		st := SecretState{Current: map[Location]string{}, Previous: map[Location]string{}}
		for _, l := range s.Current {
			st.Current[l] = fp(w.files[l])
		}
		for _, l := range s.Previous {
			st.Previous[l] = fp(w.files[l])
		}
		var rs []Record
		for _, r := range w.records {
			if r.Secret == s.Name {
				rs = append(rs, r)
			}
		}
		st.Txn = Replay(rs)
		o.Secrets[s.Name] = st
	}
	return o, nil
}

func (w *world) executor(values map[string]string) *Executor {
	return &Executor{
		Values: func(s string) (string, bool) { v, ok := values[s]; return v, ok },
		Reader: w, Writer: w, Stash: w, Roller: w, Health: w, Verifier: w, Journal: w,
		Now:   func() time.Time { return w.now },
		NewID: func() string { w.ids++; return fmt.Sprintf("txn%d", w.ids) },
	}
}

// apply runs Apply and turns a simulated crash into a return value.
func (w *world) apply(d Desired, values map[string]string) (res []Result, crashed bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(crash); !ok {
				panic(r)
			}
			crashed = true
		}
	}()
	res, err := Apply(context.Background(), d, w, w.executor(values))
	if err != nil {
		w.t.Fatalf("apply: %v", err)
	}
	return res, false
}

func desired(keep time.Duration) Desired {
	s := sessionKey(keep)
	s.DesiredFP = fp("new-value")
	return Desired{Revision: "c0ffee", Secrets: []Secret{s}}
}

var values = map[string]string{"session-key": "new-value"}

func (w *world) assertConverged(t *testing.T) {
	t.Helper()
	if w.files[cur] != "new-value" || w.files[prev] != "" {
		t.Errorf("files = %q/%q, want new-value/empty", w.files[cur], w.files[prev])
	}
	for _, c := range []string{"app", "worker"} {
		if got := w.loaded[c]; got != [2]string{"new-value", ""} {
			t.Errorf("%s runs %q, want new-value and no previous", c, got)
		}
	}
	if txn := Replay(w.records); txn != nil {
		t.Errorf("transaction %s left open at %s", txn.ID, txn.Phase)
	}
}

func TestApplyRotatesAndFinalizes(t *testing.T) {
	w := newWorld(t, "old-value")
	res, _ := w.apply(desired(0), values)
	if len(res) != 1 || res[0].Outcome != OutcomeRotated {
		t.Fatalf("results = %+v, want one rotated", res)
	}
	w.assertConverged(t)
	// The dual window really happened: app ran new with old as previous before the finalize.
	var sawWindow bool
	for _, r := range w.records {
		if r.Type == RecordPhase && r.Phase == PhaseVerified {
			sawWindow = true
		}
	}
	if !sawWindow {
		t.Error("no verified phase recorded before finalize")
	}
	if res, _ := w.apply(desired(0), values); res[0].Outcome != OutcomeInSync {
		t.Errorf("second apply = %+v, want in-sync", res[0])
	}
}

func TestApplyRollsBackWhenVerificationFails(t *testing.T) {
	w := newWorld(t, "old-value")
	w.failWhen = func(c Check, s Scope) error {
		if len(s.Consumers) == 2 { // the worker rejects the new value
			return errors.New("http 503")
		}
		return nil
	}
	res, _ := w.apply(desired(0), values)
	if len(res) != 1 || res[0].Outcome != OutcomeRolledBack {
		t.Fatalf("results = %+v, want rolled-back", res)
	}
	if !strings.Contains(res[0].Reason, "http 503") {
		t.Errorf("reason %q does not say why", res[0].Reason)
	}
	if w.files[cur] != "old-value" || w.files[prev] != "" {
		t.Errorf("files not restored: %q/%q", w.files[cur], w.files[prev])
	}
	for _, c := range []string{"app", "worker"} {
		if got := w.loaded[c]; got[0] != "old-value" {
			t.Errorf("%s still runs %q after rollback", c, got[0])
		}
	}
	if txn := Replay(w.records); txn != nil {
		t.Errorf("transaction left open: %+v", txn)
	}
}

// TestApplyConvergesAfterCrashAtEveryRecord kills the executor right after each journal record in turn,
// as kill -9 would, then runs apply again: the stack must always end on the new value everywhere.
func TestApplyConvergesAfterCrashAtEveryRecord(t *testing.T) {
	clean := newWorld(t, "old-value")
	clean.apply(desired(0), values)
	total := len(clean.records)
	if total < 10 {
		t.Fatalf("only %d records in a full rotation", total)
	}
	for n := 1; n <= total; n++ {
		t.Run(fmt.Sprintf("crash-after-record-%d", n), func(t *testing.T) {
			w := newWorld(t, "old-value")
			w.crashAt = n
			if _, crashed := w.apply(desired(0), values); !crashed {
				t.Fatalf("did not crash at record %d", n)
			}
			w.crashAt = 0
			res, _ := w.apply(desired(0), values)
			w.assertConverged(t)
			for _, r := range res {
				if r.Outcome == OutcomeFailed || r.Outcome == OutcomeRolledBack {
					t.Errorf("rerun outcome %s: %s", r.Outcome, r.Reason)
				}
			}
		})
	}
}

func TestApplyKeepsPreviousForItsWindow(t *testing.T) {
	w := newWorld(t, "old-value")
	res, _ := w.apply(desired(24*time.Hour), values)
	if res[0].Outcome != OutcomeVerified {
		t.Fatalf("outcome = %s, want verified", res[0].Outcome)
	}
	if w.files[prev] != "old-value" || w.loaded["worker"] != [2]string{"new-value", "old-value"} {
		t.Fatalf("previous not kept: files %q, worker %q", w.files[prev], w.loaded["worker"])
	}
	w.now = t0.Add(time.Hour)
	if res, _ := w.apply(desired(24*time.Hour), values); res[0].Outcome != OutcomeWaiting {
		t.Fatalf("outcome inside window = %s, want waiting", res[0].Outcome)
	}
	w.now = t0.Add(25 * time.Hour)
	if res, _ := w.apply(desired(24*time.Hour), values); res[0].Outcome != OutcomeFinalized {
		t.Fatalf("outcome after window = %s, want finalized", res[0].Outcome)
	}
	w.assertConverged(t)
}

func TestFinalizeFailureRestoresPrevious(t *testing.T) {
	w := newWorld(t, "old-value")
	w.failWhen = func(Check, Scope) error {
		if w.files[prev] == "" {
			return errors.New("old sessions rejected")
		}
		return nil
	}
	res, _ := w.apply(desired(0), values)
	if res[0].Outcome != OutcomeFinalizeFailed {
		t.Fatalf("outcome = %s (%s), want finalize-failed", res[0].Outcome, res[0].Reason)
	}
	if w.files[cur] != "new-value" || w.files[prev] != "old-value" {
		t.Errorf("files = %q/%q, want the verified state new/old", w.files[cur], w.files[prev])
	}
	if txn := Replay(w.records); txn == nil || txn.Phase != PhaseVerified {
		t.Errorf("txn = %+v, want open at verified", txn)
	}
}

func TestOneSecretFailingDoesNotBlockOthers(t *testing.T) {
	w := newWorld(t, "old-value")
	tok := Location{Path: "/srv/shop/secrets/token.txt"}
	w.files[tok] = "tok1"
	d := desired(0)
	d.Secrets = append(d.Secrets, Secret{Name: "token", Kind: KindToken, Current: []Location{tok},
		Consumers: []Consumer{{Name: "app", Action: Restart}}, Checks: []Check{{Kind: CheckExec, Service: "app"}},
		DesiredFP: fp("tok2")})
	w.failWhen = func(c Check, _ Scope) error {
		if c.Kind == CheckExec {
			return errors.New("exec exit 1")
		}
		return nil
	}
	res, _ := w.apply(d, map[string]string{"session-key": "new-value", "token": "tok2"})
	got := map[string]Outcome{}
	for _, r := range res {
		got[r.Secret] = r.Outcome
	}
	if got["session-key"] != OutcomeRotated || got["token"] != OutcomeRolledBack {
		t.Errorf("outcomes = %v", got)
	}
	if w.files[tok] != "tok1" {
		t.Errorf("token not restored: %q", w.files[tok])
	}
}

func TestJournalNeverHoldsValues(t *testing.T) {
	w := newWorld(t, "old-value")
	w.apply(desired(0), values)
	fps := regexp.MustCompile(`fp:[a-z-]+`)
	for _, r := range w.records {
		s := fps.ReplaceAllString(fmt.Sprintf("%+v", r), "")
		if strings.Contains(s, "new-value") || strings.Contains(s, "old-value") {
			t.Errorf("record holds a value: %s", s)
		}
	}
}

// TestRestoreTouchesOnlyTheSecretsLocations: a transaction left open (its recovery failed) is recovered
// after another secret in the same file rotated; restoring must not put the other secret's old value back.
func TestRestoreTouchesOnlyTheSecretsLocations(t *testing.T) {
	w := newWorld(t, "old-value")
	w.files[tokenLoc], w.hook = "tok1", "tok1"
	d := desired(0)
	d.Secrets = append(d.Secrets, Secret{Name: "token", Kind: KindToken, Current: []Location{tokenLoc},
		Consumers: []Consumer{{Name: "hook", Action: Recreate}}, DesiredFP: fp("tok2")})
	vals := map[string]string{"session-key": "new-value", "token": "tok2"}
	w.crashAt = 13 // app and worker rolled onto the new session key
	if _, crashed := w.apply(d, vals); !crashed {
		t.Fatal("no crash")
	}
	w.crashAt = 0
	w.failRoll = func(c string) error {
		if c == "worker" {
			return errors.New("engine busy")
		}
		return nil
	}
	res, _ := w.apply(d, vals) // recovery fails; the token still rotates
	got := map[string]Outcome{}
	for _, r := range res {
		got[r.Secret] = r.Outcome
	}
	if got["session-key"] != OutcomeFailed || got["token"] != OutcomeRotated {
		t.Fatalf("outcomes = %v", got)
	}
	w.failRoll = nil
	w.apply(d, vals)
	if w.files[tokenLoc] != "tok2" || w.hook != "tok2" {
		t.Errorf("token after recovering the session key: file %q, hook runs %q; want tok2", w.files[tokenLoc], w.hook)
	}
	w.assertConverged(t)
}

// TestFinalizeSnapshotFailureChangesNothing: when the snapshot before a finalize fails, nothing is
// restored from the rotation's older snapshot; the verified state stays and the next run finalizes.
func TestFinalizeSnapshotFailureChangesNothing(t *testing.T) {
	w := newWorld(t, "old-value")
	w.failSave = func(txn string) error {
		if _, again := w.stash[txn]; again {
			return errors.New("disk full")
		}
		return nil
	}
	res, _ := w.apply(desired(0), values)
	if res[0].Outcome != OutcomeFinalizeFailed {
		t.Fatalf("outcome = %s (%s)", res[0].Outcome, res[0].Reason)
	}
	if w.files[cur] != "new-value" || w.files[prev] != "old-value" {
		t.Fatalf("files = %q/%q, want the verified state new/old", w.files[cur], w.files[prev])
	}
	w.failSave = nil
	if res, _ := w.apply(desired(0), values); res[0].Outcome != OutcomeFinalized {
		t.Fatalf("next apply = %s (%s)", res[0].Outcome, res[0].Reason)
	}
	w.assertConverged(t)
}

// TestSupersedingRotationRollsBackToTheKeptOne: a newer commit arrives during a keep_previous window and
// fails; the kept rotation is open again, with its window, and is finalized when the window ends.
func TestSupersedingRotationRollsBackToTheKeptOne(t *testing.T) {
	w := newWorld(t, "old-value")
	w.apply(desired(time.Hour), values)
	kept := Replay(w.records)
	if kept == nil || kept.Phase != PhaseVerified {
		t.Fatalf("no kept rotation: %+v", kept)
	}
	d := desired(time.Hour)
	d.Secrets[0].DesiredFP = fp("third-value")
	w.failWhen = func(Check, Scope) error { return errors.New("503") }
	res, _ := w.apply(d, map[string]string{"session-key": "third-value"})
	if res[0].Outcome != OutcomeRolledBack {
		t.Fatalf("outcome = %s", res[0].Outcome)
	}
	if w.files[cur] != "new-value" || w.files[prev] != "old-value" {
		t.Errorf("files = %q/%q after rollback, want new/old", w.files[cur], w.files[prev])
	}
	if txn := Replay(w.records); txn == nil || txn.ID != kept.ID || !txn.FinalizeAfter.Equal(kept.FinalizeAfter) {
		t.Fatalf("open transaction after rollback = %+v, want the kept %s", txn, kept.ID)
	}
	w.failWhen = nil
	w.now = t0.Add(2 * time.Hour)
	if res, _ := w.apply(desired(time.Hour), values); res[0].Outcome != OutcomeFinalized {
		t.Fatalf("after the window: %s", res[0].Outcome)
	}
	w.assertConverged(t)
}
