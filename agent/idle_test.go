package agent

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// scanCounter is a Scanner that counts its scans.
type scanCounter struct{ n atomic.Int32 }

func (s *scanCounter) Scan(context.Context, string) error { s.n.Add(1); return nil }

// The agent returns memory to the OS after every run and every scan, once the run is over: an idle agent's
// RSS is what it holds, not the high-water mark of its largest run.
func TestIdleAfterEveryRunAndScan(t *testing.T) {
	r := &recorder{}
	sc := &scanCounter{}
	a := New(r, WithInterval(time.Hour), WithSettle(0), WithLogger(quiet()), WithScanner(sc, time.Hour))
	var idles, runsAtIdle atomic.Int32
	a.idle = func() {
		idles.Add(1)
		runsAtIdle.Store(int32(r.count()) + sc.n.Load())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx)
	waitFor(t, "the start run and its idle", func() bool { return idles.Load() == 1 })
	if got := runsAtIdle.Load(); got != 1 {
		t.Fatalf("idle ran with %d runs and scans done, want 1 (after the start run)", got)
	}
	a.TriggerScan("test")
	waitFor(t, "a scan and its idle", func() bool { return idles.Load() == 2 })
	a.Trigger("test")
	waitFor(t, "a run and its idle", func() bool { return idles.Load() == 3 })
	if got := runsAtIdle.Load(); got != 3 {
		t.Errorf("idle ran with %d runs and scans done, want 3", got)
	}
}
