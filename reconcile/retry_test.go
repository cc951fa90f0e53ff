package reconcile

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// awayError is an adapter error that says the runtime is away for a while (an engine restarting).
type awayError struct{}

func (awayError) Error() string   { return "engine unreachable" }
func (awayError) Retryable() bool { return true }

// TestRollbackWaitsForTheEngine: the engine goes away while the worker rolls and stays away for the
// first attempts of the rollback. The rollback must wait for it (retrying the re-rolls) and end rolled
// back, with every consumer on the old value, not give up at the first refusal.
func TestRollbackWaitsForTheEngine(t *testing.T) {
	w := newWorld(t, "old-value")
	away := 4 // refusals left, counting the forward roll of the worker
	attempts := map[string]int{}
	w.failRoll = func(c string) error {
		if c == "worker" || away < 4 { // the engine goes away when the worker rolls
			attempts[c]++
			if away > 0 {
				away--
				return errors.Join(errors.New("failed to recreate "+c), awayError{})
			}
		}
		return nil
	}
	start := time.Now()
	res, _ := w.apply(desired(0), values)
	if len(res) != 1 || res[0].Outcome != OutcomeRolledBack {
		t.Fatalf("results = %+v, want rolled-back", res)
	}
	if !strings.Contains(res[0].Reason, "engine unreachable") {
		t.Errorf("reason %q does not say why", res[0].Reason)
	}
	for _, c := range []string{"app", "worker"} {
		if got := w.loaded[c]; got[0] != "old-value" {
			t.Errorf("%s still runs %q after the rollback", c, got[0])
		}
	}
	if attempts["worker"] < 4 {
		t.Errorf("the worker was rolled %d times, want the rollback to retry it until the engine answered", attempts["worker"])
	}
	if txn := Replay(w.records); txn != nil {
		t.Errorf("transaction left open: %+v", txn)
	}
	t.Logf("rolled back in %v", time.Since(start).Round(time.Millisecond))
}

// TestRollbackGivesUpWhenTheBudgetEnds: an engine that never comes back ends the rollback when its budget
// runs out (needs attention), not never.
func TestRollbackGivesUpWhenTheBudgetEnds(t *testing.T) {
	w := newWorld(t, "old-value")
	w.failRoll = func(c string) error {
		if c == "worker" {
			return awayError{}
		}
		return nil
	}
	ex := w.executor(values)
	ex.RollbackTimeout = 700 * time.Millisecond
	start := time.Now()
	res, err := Apply(t.Context(), desired(0), w, ex)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Outcome != OutcomeFailed || !strings.Contains(res[0].Reason, "rollback failed") {
		t.Fatalf("results = %+v, want failed: rollback failed", res)
	}
	if d := time.Since(start); d < ex.RollbackTimeout || d > ex.RollbackTimeout+3*time.Second {
		t.Errorf("the rollback took %v, want about its budget of %v", d, ex.RollbackTimeout)
	}
}

// TestRollbackDoesNotRetryOtherErrors: an error that does not say the runtime is away fails the re-roll
// at once, as before.
func TestRollbackDoesNotRetryOtherErrors(t *testing.T) {
	w := newWorld(t, "old-value")
	rolls := 0
	w.failRoll = func(c string) error {
		if c == "worker" {
			rolls++
			return errors.New("image not found")
		}
		return nil
	}
	res, _ := w.apply(desired(0), values)
	if len(res) != 1 || res[0].Outcome != OutcomeFailed {
		t.Fatalf("results = %+v, want failed", res)
	}
	if rolls != 2 {
		t.Errorf("the worker was rolled %d times, want 2 (forward, then once in the rollback)", rolls)
	}
}

// refusingJournal refuses every record (a full or immutable journal) and keeps none.
type refusingJournal struct{}

func (refusingJournal) Record(context.Context, Record) error {
	return errors.New("write journal.db: no space left on device")
}

// TestBeginNotJournaledIsNotRolledBack: when the begin record never reached the journal, nothing was
// started or changed: the result says blocked (nothing changed), not rolled back.
func TestBeginNotJournaledIsNotRolledBack(t *testing.T) {
	w := newWorld(t, "old-value")
	ex := w.executor(values)
	ex.Journal = refusingJournal{}
	res, err := Apply(t.Context(), desired(0), w, ex)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Outcome != OutcomeBlocked || !strings.Contains(res[0].Reason, "no space left") {
		t.Fatalf("results = %+v, want blocked with the journal's error", res)
	}
	if w.files[cur] != "old-value" || w.loaded["app"][0] != "old-value" {
		t.Errorf("something changed: files %q, app runs %q", w.files[cur], w.loaded["app"][0])
	}
}
