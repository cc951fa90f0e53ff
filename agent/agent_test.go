package agent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/app"
)

// recorder is a Reconciler that records runs and can block them, to observe coalescing.
type recorder struct {
	mu      sync.Mutex
	runs    []string
	running int
	overlap bool
	gate    chan struct{} // when set, each run waits for a value
	err     error
}

func (r *recorder) Reconcile(ctx context.Context, reason string) error {
	r.mu.Lock()
	r.running++
	if r.running > 1 {
		r.overlap = true
	}
	r.runs = append(r.runs, reason)
	gate := r.gate
	r.mu.Unlock()
	if gate != nil {
		<-gate
	}
	r.mu.Lock()
	r.running--
	r.mu.Unlock()
	return r.err
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.runs)
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTriggersCoalesceAndRunsNeverOverlap(t *testing.T) {
	r := &recorder{gate: make(chan struct{})}
	a := New(r, WithInterval(time.Hour), WithSettle(10*time.Millisecond), WithLogger(quiet()))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx)
	waitFor(t, "the start run", func() bool { return r.count() == 1 })
	for i := 0; i < 50; i++ { // a burst while the first run is blocked
		a.Trigger("push")
	}
	r.gate <- struct{}{} // finish the start run
	waitFor(t, "one coalesced run", func() bool { return r.count() == 2 })
	r.gate <- struct{}{}
	time.Sleep(50 * time.Millisecond)
	if n := r.count(); n != 2 {
		t.Errorf("%d runs, want 2 (start + one for the burst)", n)
	}
	if r.overlap {
		t.Error("runs overlapped")
	}
	if r.runs[1] != "push" {
		t.Errorf("second run reason = %q", r.runs[1])
	}
}

func TestReconcileWaitsForTheRunAndReturnsItsError(t *testing.T) {
	r := &recorder{err: errors.New("rolled back")}
	a := New(r, WithInterval(time.Hour), WithSettle(0), WithLogger(quiet()))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx)
	if err := a.Reconcile(ctx, "cli"); err == nil || err.Error() != "rolled back" {
		t.Fatalf("Reconcile = %v", err)
	}
}

func TestIntervalTriggers(t *testing.T) {
	r := &recorder{}
	a := New(r, WithInterval(20*time.Millisecond), WithSettle(0), WithLogger(quiet()))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx)
	waitFor(t, "three runs", func() bool { return r.count() >= 3 })
}

func TestStopReleasesWaiters(t *testing.T) {
	r := &recorder{gate: make(chan struct{})}
	a := New(r, WithInterval(time.Hour), WithSettle(0), WithLogger(quiet()))
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { a.Run(ctx); close(stopped) }()
	waitFor(t, "the start run", func() bool { return r.count() == 1 })
	errc := make(chan error, 1)
	go func() { errc <- a.Reconcile(context.Background(), "cli") }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	r.gate <- struct{}{} // the run in progress finishes; then the agent stops
	<-stopped
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("waiter got %v, want context.Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("waiter not released")
	}
}

// TestWatchRepoTriggersOnCommit uses a real git repository and the real fsnotify watcher.
func TestWatchRepoTriggersOnCommit(t *testing.T) {
	dir := t.TempDir()
	git := func(args ...string) {
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.invalid"}, args...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(dir, "f"), []byte("1"), 0o600)
	git("add", "f")
	git("commit", "-qm", "one")
	r := &recorder{}
	a := New(r, WithInterval(time.Hour), WithSettle(20*time.Millisecond), WithLogger(quiet()))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx)
	go WatchRepo(ctx, dir, a)
	waitFor(t, "the start run", func() bool { return r.count() == 1 })
	time.Sleep(100 * time.Millisecond) // the watcher is set up
	os.WriteFile(filepath.Join(dir, "f"), []byte("2"), 0o600)
	git("commit", "-qam", "two")
	waitFor(t, "a run after the commit", func() bool { return r.count() >= 2 })
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.runs[1] != "repository changed" {
		t.Errorf("reason = %q", r.runs[1])
	}
}

// flaky fails transiently a number of times, then succeeds.
type flaky struct {
	recorder
	fails int
}

func (f *flaky) Reconcile(ctx context.Context, reason string) error {
	f.recorder.Reconcile(ctx, reason)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fails > 0 {
		f.fails--
		return app.Transient(errors.New("remote unreachable"))
	}
	return nil
}

func TestTransientFailuresRetryWithBackoff(t *testing.T) {
	f := &flaky{fails: 3}
	a := New(f, WithInterval(time.Hour), WithSettle(0), WithRetry(10*time.Millisecond), WithLogger(quiet()))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	go a.Run(ctx)
	waitFor(t, "start + 3 retries", func() bool { return f.count() == 4 })
	if took := time.Since(start); took < 70*time.Millisecond { // 10 + 20 + 40 ms
		t.Errorf("retries came after %s, want exponential backoff (≥ 70ms)", took)
	}
	time.Sleep(100 * time.Millisecond)
	if n := f.count(); n != 4 {
		t.Errorf("%d runs after success, want no more retries", n)
	}
}

func TestPermanentFailuresAreNotRetried(t *testing.T) {
	r := &recorder{err: errors.New("rolled back")}
	a := New(r, WithInterval(time.Hour), WithSettle(0), WithRetry(time.Millisecond), WithLogger(quiet()))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx)
	waitFor(t, "the start run", func() bool { return r.count() == 1 })
	time.Sleep(50 * time.Millisecond)
	if n := r.count(); n != 1 {
		t.Errorf("%d runs, want 1: a rollback must not be retried in a loop", n)
	}
}
