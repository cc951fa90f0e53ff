package agent

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// timedRuns is a Reconciler that records when each run started and ended, can hold runs until released,
// and fails each run with its own number, so that a waiter can tell which run answered it.
type timedRuns struct {
	mu     sync.Mutex
	starts []time.Time
	ends   []time.Time
	hold   chan struct{} // when set, each run waits for a value
}

func (r *timedRuns) Reconcile(ctx context.Context, reason string) error {
	r.mu.Lock()
	r.starts = append(r.starts, time.Now())
	n, hold := len(r.starts), r.hold
	r.mu.Unlock()
	if hold != nil {
		<-hold
	}
	r.mu.Lock()
	r.ends = append(r.ends, time.Now())
	r.mu.Unlock()
	return fmt.Errorf("run %d", n)
}

func (r *timedRuns) runs() (starts, ends []time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.starts...), append([]time.Time(nil), r.ends...)
}

func (r *timedRuns) count() int {
	s, _ := r.runs()
	return len(s)
}

// A trigger that finds the agent quiet (no run ended within the settle delay) runs at once: the start
// trigger, and a webhook long after the last run. Before, every run waited the settle delay first.
func TestQuietTriggerRunsAtOnce(t *testing.T) {
	const settle = time.Second
	r := &timedRuns{}
	a := New(r, WithInterval(time.Hour), WithSettle(settle), WithLogger(quiet()))
	a.idle = func() {}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	began := time.Now()
	go a.Run(ctx)
	waitFor(t, "the start run", func() bool { return r.count() == 1 })
	starts, _ := r.runs()
	if d := starts[0].Sub(began); d >= settle/2 {
		t.Errorf("the start run began after %s, want at once (settle %s)", d, settle)
	}
	time.Sleep(settle + 100*time.Millisecond) // quiet for longer than the settle delay
	pushed := time.Now()
	a.Trigger("push")
	waitFor(t, "the push's run", func() bool { return r.count() == 2 })
	starts, _ = r.runs()
	if d := starts[1].Sub(pushed); d >= settle/2 {
		t.Errorf("a lone trigger's run began after %s, want at once (settle %s)", d, settle)
	}
}

// Triggers during a run make exactly one more run, which starts no sooner than the settle delay after
// the run ended; a trigger within the delay after a run waits for the rest of it.
func TestTriggersDuringARunMakeOneRunAfterTheSettle(t *testing.T) {
	const settle = 150 * time.Millisecond
	r := &timedRuns{hold: make(chan struct{})}
	a := New(r, WithInterval(time.Hour), WithSettle(settle), WithLogger(quiet()))
	a.idle = func() {}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx)
	waitFor(t, "the start run", func() bool { return r.count() == 1 })
	for i := 0; i < 20; i++ {
		a.Trigger(fmt.Sprintf("push %d", i))
	}
	r.hold <- struct{}{} // the start run ends
	waitFor(t, "the follow-up run", func() bool { return r.count() == 2 })
	r.hold <- struct{}{}
	time.Sleep(2 * settle)
	starts, ends := r.runs()
	if len(starts) != 2 {
		t.Fatalf("%d runs, want 2: the start run and one for the 20 triggers during it", len(starts))
	}
	if gap := starts[1].Sub(ends[0]); gap < settle {
		t.Errorf("the follow-up run began %s after the run ended, want at least the settle delay %s", gap, settle)
	}

	// Right after a run: the trigger waits for what is left of the delay.
	a.Trigger("right after")
	waitFor(t, "the third run", func() bool { return r.count() == 3 })
	r.hold <- struct{}{}
	a.Trigger("within the delay") // just after the third run ended
	waitFor(t, "the fourth run", func() bool { return r.count() == 4 })
	r.hold <- struct{}{}
	starts, ends = r.runs()
	if gap := starts[3].Sub(ends[2]); gap < settle {
		t.Errorf("a trigger right after a run started its run %s after it, want the settle delay %s", gap, settle)
	}
}

// Triggers without pause never make runs closer together than the settle delay: no run storm.
func TestSteadyTriggersMakeNoRunStorm(t *testing.T) {
	const settle = 100 * time.Millisecond
	r := &timedRuns{}
	a := New(r, WithInterval(time.Hour), WithSettle(settle), WithLogger(quiet()))
	a.idle = func() {}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx)
	stop := time.Now().Add(700 * time.Millisecond)
	for time.Now().Before(stop) {
		a.Trigger("event")
		time.Sleep(2 * time.Millisecond)
	}
	time.Sleep(2 * settle)
	starts, ends := r.runs()
	if len(starts) < 3 || len(starts) > 9 {
		t.Errorf("%d runs for 700 ms of triggers with a settle of %s, want 3–9", len(starts), settle)
	}
	for i := 1; i < len(starts); i++ {
		if gap := starts[i].Sub(ends[i-1]); gap < settle {
			t.Errorf("run %d began %s after run %d ended, want at least %s", i+1, gap, i, settle)
		}
	}
}

// A Reconcile call is answered by a run that started after it: one that arrives during a run waits for
// the next run, and gets that run's result.
func TestReconcileDuringARunIsAnsweredByTheNextRun(t *testing.T) {
	r := &timedRuns{hold: make(chan struct{})}
	a := New(r, WithInterval(time.Hour), WithSettle(20*time.Millisecond), WithLogger(quiet()))
	a.idle = func() {}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx)
	waitFor(t, "the start run", func() bool { return r.count() == 1 })
	errc := make(chan error, 1)
	go func() { errc <- a.Reconcile(ctx, "cli") }()
	waitFor(t, "the waiter", func() bool { a.mu.Lock(); defer a.mu.Unlock(); return len(a.waiters) == 1 })
	r.hold <- struct{}{} // the start run ends: not the waiter's
	select {
	case err := <-errc:
		t.Fatalf("Reconcile returned %v from the run that was in progress when it was called", err)
	case <-time.After(50 * time.Millisecond):
	}
	waitFor(t, "the next run", func() bool { return r.count() == 2 })
	r.hold <- struct{}{}
	if err := <-errc; err == nil || err.Error() != "run 2" {
		t.Errorf("Reconcile = %v, want the error of run 2", err)
	}
}

// A drift scan still waits the settle delay after its trigger: a file event may come from a write that
// is not finished.
func TestScansStillSettle(t *testing.T) {
	const settle = 200 * time.Millisecond
	sc := &scanTimes{}
	a := New(&timedRuns{}, WithInterval(time.Hour), WithSettle(settle), WithLogger(quiet()), WithScanner(sc, time.Hour))
	a.idle = func() {}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx)
	time.Sleep(settle + 50*time.Millisecond)
	asked := time.Now()
	a.TriggerScan("file changed")
	waitFor(t, "the scan", func() bool { sc.mu.Lock(); defer sc.mu.Unlock(); return !sc.at.IsZero() })
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if d := sc.at.Sub(asked); d < settle {
		t.Errorf("the scan began %s after its trigger, want the settle delay %s", d, settle)
	}
}

type scanTimes struct {
	mu sync.Mutex
	at time.Time
}

func (s *scanTimes) Scan(context.Context, string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.at = time.Now()
	return nil
}
