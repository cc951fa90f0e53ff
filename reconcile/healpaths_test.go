package reconcile

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestDecideHealPolicy: the cases the executor's loop used to decide on its own, now in decideHeal.
func TestDecideHealPolicy(t *testing.T) {
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
		{"swap: old value only, no window to stage again", healCase{Step: StepLogin, Next: rej, Old: acc, Swap: true}, healGiveUp},
		{"swap: new value works", healCase{Step: StepLogin, Next: acc, Swap: true}, healRetry},
		{"swap: neither, service from the sources", healCase{Step: StepRevoke, Next: rej, Old: rej, CanRecreate: true, Swap: true}, healRecreate},
		{"revoke: no answer past the wait, health gate untried", healCase{Step: StepRevoke, Next: unk, WaitOver: true, CanRecreate: true, HealthUntried: true}, healWaitHealthy},
		{"revoke: no answer past the wait, health gate tried", healCase{Step: StepRevoke, Next: unk, WaitOver: true, CanRecreate: true}, healRecreate},
		{"revoke: neither value: recreate at once, the server answers", healCase{Step: StepRevoke, Next: rej, Old: rej, CanRecreate: true, HealthUntried: true}, healRecreate},
		{"drain: no answer past the wait, health gate untried", healCase{Step: StepDrain, Next: unk, WaitOver: true, CanRecreate: true, HealthUntried: true}, healWaitHealthy},
		{"drain: no answer past the wait, nothing to recreate", healCase{Step: StepDrain, Next: unk, WaitOver: true, HealthUntried: true}, healGiveUp},
		{"drain: bootstrap config", healCase{Step: StepDrain, Next: rej, Old: acc}, healRestage},
		{"stage: no answer past the wait: never recreated", healCase{Step: StepStage, Next: unk, WaitOver: true, CanRecreate: true, HealthUntried: true}, healGiveUp},
	}
	for _, tc := range cases {
		if got := decideHeal(tc.c); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

// drainCreds is countingCreds whose drain and stage find the server as it is: away, or refusing a value.
type drainCreds struct{ *countingCreds }

func (c drainCreds) Server(string) (Credential, error) { return c, nil }

func (c drainCreds) Drain(ctx context.Context, next string) error {
	c.calls[StepDrain]++
	if c.gone() {
		return errAway
	}
	if !c.accepts[next] { // a driver drains logged in with the new value
		return errors.New("the new value does not log in")
	}
	return c.countingCreds.Drain(ctx, next)
}

func (c drainCreds) Stage(ctx context.Context, current, next string) (string, error) {
	if c.gone() {
		c.calls[StepStage]++
		return "", errAway
	}
	return c.countingCreds.Stage(ctx, current, next)
}

func drainExecutor(d *db) (*Executor, drainCreds) {
	ex, cc := healExecutor(d)
	dc := drainCreds{cc}
	ex.Credentials = dc
	return ex, dc
}

// TestHealRestartDuringDrain: the server restarts into its bootstrap configuration (the old value only)
// as the drain starts. The drain logs in with the new value and is refused; rekey stages the new value
// again with the old one, drains, revokes: rotated in one apply.
func TestHealRestartDuringDrain(t *testing.T) {
	d := newDB(t, "old-pw")
	ex, dc := drainExecutor(d)
	restartAt(d, ex, "wait until no session", "old-pw")
	res := healApply(t, d, ex)
	if len(res) != 1 || res[0].Outcome != OutcomeRotated || !strings.Contains(res[0].Note, "staged it again") {
		t.Fatalf("results = %+v, want rotated, the server healed", res)
	}
	if dc.calls[StepStage] != 2 || dc.calls[StepDrain] != 2 {
		t.Errorf("stage ran %d times, drain %d times: want 2 each (the heal, the retry)", dc.calls[StepStage], dc.calls[StepDrain])
	}
	d.assertOn(t, "new-pw")
}

// TestHealDrainGivesUpOnSessionsThatOutlastIt: the drain times out on sessions still using the old value
// while the server is there and accepts the new one: waiting as long again would not help, so the heal
// gives up at once (no wait, no second drain) and the transaction stays open for the next run.
func TestHealDrainGivesUpOnSessionsThatOutlastIt(t *testing.T) {
	d := newDB(t, "old-pw")
	ex, dc := drainExecutor(d)
	ex.HealWait = 10 * time.Second
	d.failAt[StepDrain] = errors.New("sessions on the old value still open after 30s")
	start := time.Now()
	res := healApply(t, d, ex)
	if len(res) != 1 || res[0].Outcome != OutcomeFinalizeFailed || !strings.Contains(res[0].Reason, "the new value: accepted") {
		t.Fatalf("results = %+v, want finalize-failed saying what rekey found", res)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("the heal waited %s for a server that was there", el)
	}
	if dc.calls[StepDrain] != 1 || dc.calls[StepRevoke] != 0 {
		t.Errorf("drain ran %d times, revoke %d: want one drain and no revoke", dc.calls[StepDrain], dc.calls[StepRevoke])
	}
	if txn := Replay(d.records); txn == nil || txn.Phase != PhaseFinalizing {
		t.Fatalf("transaction = %+v, want open at finalizing", txn)
	}
}

// TestHealServerAwayDuringStage: the server is away when the stage runs and comes back from its
// bootstrap configuration (the old value only) while rekey waits: the stage itself runs again.
func TestHealServerAwayDuringStage(t *testing.T) {
	d := newDB(t, "old-pw")
	ex, dc := drainExecutor(d)
	ex.HealWait = 5 * time.Second
	dc.boot = []string{"old-pw"}
	ex.Progress = func(ev Event) {
		if ev.Status == "start" && strings.HasPrefix(ev.Step, "stage") && dc.calls[StepStage] == 0 {
			dc.away = 2 // the stage and one probe
		}
	}
	res := healApply(t, d, ex)
	if len(res) != 1 || res[0].Outcome != OutcomeRotated {
		t.Fatalf("results = %+v, want rotated", res)
	}
	if dc.calls[StepStage] != 2 || dc.calls[StepProbe] == 0 {
		t.Errorf("stage ran %d times after %d probes: want twice, after the server was probed", dc.calls[StepStage], dc.calls[StepProbe])
	}
	d.assertOn(t, "new-pw")
}

// TestHealSwapDoesNotStageAgain: a swapped secret's server restarts onto the old value right after the
// swap. There is no dual window to bring back: no stage, the rotation rolls back, and the reason says why.
func TestHealSwapDoesNotStageAgain(t *testing.T) {
	d := newDB(t, "old-pw")
	d.swap = true
	ex, dc := drainExecutor(d)
	restartAt(d, ex, "verify fp:new-pw logs in", "old-pw")
	res := healApply(t, d, ex)
	if len(res) == 0 || res[0].Outcome != OutcomeRolledBack || !strings.Contains(res[0].Reason, "no dual window to stage again") {
		t.Fatalf("results = %+v, want rolled back, saying a swap has no window", res)
	}
	if dc.calls[StepStage] != 0 {
		t.Errorf("a swapped secret was staged %d times", dc.calls[StepStage])
	}
	d.assertOn(t, "old-pw")
}
