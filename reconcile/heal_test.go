package reconcile

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDecideHeal(t *testing.T) {
	const (
		acc = probeAccepted
		rej = probeRejected
		unk = probeUnknown
	)
	cases := []struct {
		name string
		c    healCase
		want healMove
	}{
		{"revoke: new value works, server was away", healCase{Step: StepRevoke, Next: acc, Away: true}, healRetry},
		{"revoke: new value works", healCase{Step: StepRevoke, Next: acc}, healRetry},
		{"drain: new value works, server never away", healCase{Step: StepDrain, Next: acc}, healGiveUp},
		{"drain: new value works after the server was away", healCase{Step: StepDrain, Next: acc, Away: true}, healRetry},
		{"revoke: bootstrap config, old value only", healCase{Step: StepRevoke, Next: rej, Old: acc}, healRestage},
		{"revoke: old only, even if the service could be recreated", healCase{Step: StepRevoke, Next: rej, Old: acc, CanRecreate: true}, healRestage},
		{"login: bootstrap config", healCase{Step: StepLogin, Next: rej, Old: acc}, healRestage},
		{"stage: bootstrap config", healCase{Step: StepStage, Next: rej, Old: acc}, healRestage},
		{"revoke: neither value, service from the sources", healCase{Step: StepRevoke, Next: rej, Old: rej, CanRecreate: true}, healRecreate},
		{"revoke: neither value, no service", healCase{Step: StepRevoke, Next: rej, Old: rej}, healGiveUp},
		{"login: neither value: sources still old, never recreate", healCase{Step: StepLogin, Next: rej, Old: rej, CanRecreate: true}, healGiveUp},
		{"revoke: no answer", healCase{Step: StepRevoke, Next: unk}, healWait},
		{"revoke: no answer for the old value", healCase{Step: StepRevoke, Next: rej, Old: unk}, healWait},
		{"revoke: no answer, wait over, service from the sources", healCase{Step: StepRevoke, Next: unk, WaitOver: true, CanRecreate: true}, healRecreate},
		{"revoke: no answer, wait over", healCase{Step: StepRevoke, Next: unk, WaitOver: true}, healGiveUp},
		{"stage: no answer, wait over: roll back", healCase{Step: StepStage, Next: unk, WaitOver: true, CanRecreate: true}, healGiveUp},
		{"unstage: old value works", healCase{Step: StepUnstage, Next: rej, Old: acc}, healRetry},
		{"unstage: new value works (the driver logs in with it)", healCase{Step: StepUnstage, Next: acc}, healRetry},
		{"unstage: neither", healCase{Step: StepUnstage, Next: rej, Old: rej, CanRecreate: true}, healGiveUp},
		{"unstage: no answer", healCase{Step: StepUnstage, Next: unk}, healWait},
		{"unstage: no answer, wait over", healCase{Step: StepUnstage, Next: unk, WaitOver: true, CanRecreate: true}, healGiveUp},
	}
	for _, tc := range cases {
		if got := decideHeal(tc.c); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

// restartAt makes the server restart into its bootstrap configuration (it accepts boot only) when the
// step named by prefix starts, the first time.
func restartAt(d *db, ex *Executor, prefix string, boot ...string) {
	done := false
	ex.Progress = func(ev Event) {
		if !done && ev.Status == "start" && strings.HasPrefix(ev.Step, prefix) {
			done = true
			d.accepts = map[string]bool{}
			for _, v := range boot {
				d.accepts[v] = true
			}
		}
	}
}

// countingCreds counts the calls of each step and can make the server not answer for a while.
type countingCreds struct {
	creds
	calls map[StepKind]int
	away  int // probes and steps left that find the server away
	boot  []string
}

var errAway = errors.New("server unreachable: no running container")

func (c *countingCreds) Server(string) (Credential, error) { return c, nil }

func (c *countingCreds) gone() bool {
	if c.away == 0 {
		return false
	}
	c.away--
	if c.away == 0 { // back, from its bootstrap configuration
		c.accepts = map[string]bool{}
		for _, v := range c.boot {
			c.accepts[v] = true
		}
	}
	return true
}

func (c *countingCreds) Revoke(ctx context.Context, next string) error {
	c.calls[StepRevoke]++
	if c.gone() {
		return errAway
	}
	return c.creds.Revoke(ctx, next)
}

func (c *countingCreds) Stage(ctx context.Context, current, next string) (string, error) {
	c.calls[StepStage]++
	return c.creds.Stage(ctx, current, next)
}

func (c *countingCreds) Unstage(ctx context.Context, current, next string) error {
	c.calls[StepUnstage]++
	if c.gone() {
		return errAway
	}
	return c.creds.Unstage(ctx, current, next)
}

func (c *countingCreds) Accepts(ctx context.Context, v string) (bool, error) {
	c.calls[StepProbe]++
	if c.gone() {
		return false, errAway
	}
	return c.creds.Accepts(ctx, v)
}

func healExecutor(d *db) (*Executor, *countingCreds) {
	ex := d.executor()
	cc := &countingCreds{creds: creds{db: d, name: "db"}, calls: map[StepKind]int{}}
	ex.Credentials = cc
	ex.HealWait = 200 * time.Millisecond
	return ex, cc
}

func healApply(t *testing.T, d *db, ex *Executor) []Result {
	t.Helper()
	res, err := Apply(context.Background(), d.desired(), d, ex)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestHealRestartBeforeRevoke: the server restarts into its bootstrap configuration (the old value only)
// after every consumer moved to the new one. The revoke logs in with the new value and is refused; the
// old one from the snapshot logs in, so rekey stages the new value again with it, revokes, and recreates
// the server's service from the sources: one apply, rotated, no consumer locked out afterwards.
func TestHealRestartBeforeRevoke(t *testing.T) {
	d := newDB(t, "old-pw")
	ex, cc := healExecutor(d)
	restartAt(d, ex, "revoke", "old-pw")
	res := healApply(t, d, ex)
	if len(res) != 1 || res[0].Outcome != OutcomeRotated {
		t.Fatalf("results = %+v, want rotated", res)
	}
	if !strings.Contains(res[0].Note, "staged it again") {
		t.Errorf("note %q does not say the server was healed", res[0].Note)
	}
	if cc.calls[StepStage] != 2 || cc.calls[StepRevoke] != 2 {
		t.Errorf("stage ran %d times, revoke %d times: want 2 each (the heal, the retry)", cc.calls[StepStage], cc.calls[StepRevoke])
	}
	d.assertOn(t, "new-pw")
}

// TestHealRestartAfterStage: the server restarts between stage and the new value's login. The login is
// refused; rekey stages again with the old value and the rotation goes on.
func TestHealRestartAfterStage(t *testing.T) {
	d := newDB(t, "old-pw")
	ex, _ := healExecutor(d)
	restartAt(d, ex, "verify fp:new-pw logs in", "old-pw")
	res := healApply(t, d, ex)
	if len(res) != 1 || res[0].Outcome != OutcomeRotated {
		t.Fatalf("results = %+v, want rotated", res)
	}
	d.assertOn(t, "new-pw")
}

// TestHealServerAwayDuringRevoke: the server is away when the revoke runs, and comes back from its
// bootstrap configuration while rekey waits for it.
func TestHealServerAwayDuringRevoke(t *testing.T) {
	d := newDB(t, "old-pw")
	ex, cc := healExecutor(d)
	ex.HealWait = 5 * time.Second
	cc.boot = []string{"old-pw"}
	ex.Progress = func(ev Event) {
		if ev.Status == "start" && strings.HasPrefix(ev.Step, "revoke") && cc.calls[StepRevoke] == 0 {
			cc.away = 4 // the revoke and three probes
		}
	}
	res := healApply(t, d, ex)
	if len(res) != 1 || res[0].Outcome != OutcomeRotated {
		t.Fatalf("results = %+v, want rotated", res)
	}
	d.assertOn(t, "new-pw")
}

// TestHealRecreatesTheServerFromItsSources: the server comes back accepting neither value (a third one
// in its bootstrap configuration); its service reads the password from the sources, which hold the new
// value: rekey recreates it, then revokes.
func TestHealRecreatesTheServerFromItsSources(t *testing.T) {
	d := newDB(t, "old-pw")
	ex, _ := healExecutor(d)
	restartAt(d, ex, "revoke", "bootstrap-pw")
	res := healApply(t, d, ex)
	if len(res) != 1 || res[0].Outcome != OutcomeRotated || !strings.Contains(res[0].Note, "recreated it from its sources") {
		t.Fatalf("results = %+v, want rotated with the server recreated", res)
	}
	d.assertOn(t, "new-pw")
}

// TestHealGivesUpOnceAndTriesOncePerApply: a server whose service does not read the sources and that
// accepts neither value cannot be healed: finalize-failed with what rekey found, the revoke tried once
// in the apply (it used to run twice, logging two identical failures), and the transaction stays open.
func TestHealGivesUpOnceAndTriesOncePerApply(t *testing.T) {
	d := newDB(t, "old-pw")
	d.byHand = false
	ex, cc := healExecutor(d)
	restartAt(d, ex, "revoke", "bootstrap-pw")
	des := d.desired()
	des.Secrets[0].Server.Service = ""
	res, err := Apply(context.Background(), des, d, ex)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Outcome != OutcomeFinalizeFailed {
		t.Fatalf("results = %+v, want one finalize-failed", res)
	}
	if !strings.Contains(res[0].Reason, "the new value: rejected; the old value: rejected") {
		t.Errorf("reason %q does not say what rekey found", res[0].Reason)
	}
	if txn := Replay(d.records); txn == nil || txn.Phase != PhaseFinalizing {
		t.Fatalf("transaction = %+v, want open at finalizing", txn)
	}
	// The next apply: one finalize, one revoke.
	cc.calls = map[StepKind]int{}
	res, err = Apply(context.Background(), des, d, ex)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Action != ActionFinalize || res[0].Outcome != OutcomeFinalizeFailed {
		t.Fatalf("second apply: results = %+v, want one finalize-failed", res)
	}
	if cc.calls[StepRevoke] != 1 {
		t.Errorf("the second apply revoked %d times, want once", cc.calls[StepRevoke])
	}
	// The server accepts the new value again (an operator, or the server's sources): the next apply ends.
	d.accepts = map[string]bool{"new-pw": true}
	d.uses["db"] = "new-pw"
	if res, _ := Apply(context.Background(), des, d, ex); len(res) == 0 || res[0].Outcome != OutcomeFinalized {
		t.Fatalf("third apply: results = %+v, want finalized", res)
	}
}

// TestHealRollbackUnstagesAfterRestart: a check fails and the rollback's unstage finds the server away;
// it comes back from its bootstrap configuration (the old value) while rekey waits, and the unstage runs
// again: rolled back, the server on the old value only.
func TestHealRollbackUnstagesAfterRestart(t *testing.T) {
	d := newDB(t, "old-pw")
	ex, cc := healExecutor(d)
	ex.HealWait = 5 * time.Second
	cc.boot = []string{"old-pw"}
	d.failAt[StepLogin] = errors.New("the new value does not log in")
	ex.Progress = func(ev Event) {
		if ev.Status == "start" && strings.HasPrefix(ev.Step, "unstage") && cc.calls[StepUnstage] == 0 {
			cc.away = 2 // the unstage and one probe
		}
	}
	res := healApply(t, d, ex)
	if len(res) == 0 || res[0].Outcome != OutcomeRolledBack {
		t.Fatalf("results = %+v, want rolled-back", res)
	}
	if cc.calls[StepUnstage] != 2 || cc.calls[StepProbe] == 0 {
		t.Errorf("unstage ran %d times after %d probes, want twice after the server was probed", cc.calls[StepUnstage], cc.calls[StepProbe])
	}
	d.assertOn(t, "old-pw")
}

// TestHealBeforeEveryRoll: the server restarts after the new value's login and before the consumers move.
// No consumer may be rolled onto a value the server lost (the fake fails the test on any such login):
// rekey checks the new value before each roll and stages it again first.
func TestHealBeforeEveryRoll(t *testing.T) {
	d := newDB(t, "old-pw")
	ex, cc := healExecutor(d)
	restartAt(d, ex, "write", "old-pw")
	res := healApply(t, d, ex)
	if len(res) != 1 || res[0].Outcome != OutcomeRotated {
		t.Fatalf("results = %+v, want rotated", res)
	}
	if cc.calls[StepStage] != 2 {
		t.Errorf("stage ran %d times, want 2 (the heal before the first roll)", cc.calls[StepStage])
	}
	d.assertOn(t, "new-pw")
}

// healthAfter is a health gate that brings the server back (accepting back) the first time it is asked:
// a server that was only slow to start, and whose own healthcheck says when it is up.
type healthAfter struct {
	HealthGate
	cc   *countingCreds
	back []string
	asks int
}

func (h *healthAfter) WaitHealthy(ctx context.Context, consumer string) error {
	h.asks++
	if h.cc.away > 0 {
		h.cc.away = 0
		h.cc.accepts = map[string]bool{}
		for _, v := range h.back {
			h.cc.accepts[v] = true
		}
	}
	return h.HealthGate.WaitHealthy(ctx, consumer)
}

// TestHealWaitsForASlowServerBeforeRecreating: a server that answers nothing for longer than the heal
// wait (loading its data, recovering) but whose health gate then passes is not recreated: rekey waits on
// its health once, probes again, and the revoke runs.
func TestHealWaitsForASlowServerBeforeRecreating(t *testing.T) {
	d := newDB(t, "old-pw")
	ex, cc := healExecutor(d)
	h := &healthAfter{HealthGate: ex.Health, cc: cc, back: []string{"old-pw", "new-pw"}}
	ex.Health = h
	ex.Progress = func(ev Event) {
		if ev.Status == "start" && strings.HasPrefix(ev.Step, "revoke") && cc.calls[StepRevoke] == 0 {
			cc.away = 1 << 20 // away until its health gate passes
		}
	}
	res := healApply(t, d, ex)
	if len(res) != 1 || res[0].Outcome != OutcomeRotated {
		t.Fatalf("results = %+v, want rotated", res)
	}
	if strings.Contains(res[0].Note, "recreated") {
		t.Errorf("a slow server was recreated: %s", res[0].Note)
	}
	d.assertOn(t, "new-pw")
}

// TestHealNoteSurvivesAPendingRevocation: a heal before the consumers roll and a by-hand revocation at
// the end both reach the result's note; the later one no longer replaces the earlier.
func TestHealNoteSurvivesAPendingRevocation(t *testing.T) {
	d := newDB(t, "old-pw")
	d.byHand = true
	ex, _ := healExecutor(d)
	restartAt(d, ex, "write", "old-pw")
	res := healApply(t, d, ex)
	if len(res) != 1 || !strings.Contains(res[0].Note, "staged it again") || !strings.Contains(res[0].Note, "pending revocation") {
		t.Fatalf("results = %+v, want both the heal and the pending revocation in the note", res)
	}
}
