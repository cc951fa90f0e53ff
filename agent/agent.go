// Package agent runs rekey continuously: it reconciles on a timer and whenever something says the desired
// state may have moved (a push webhook, a change in a local repository, `rekey reconcile`). A trigger
// that finds the agent quiet runs at once; triggers that arrive while a reconcile runs, or within the
// settle delay after it, are coalesced into one more run after that delay; runs never overlap.
package agent

import (
	"context"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/rekeyhq/rekey/app"
)

// Reconciler does one reconciliation: read the desired state at the tracked ref and apply it.
type Reconciler interface {
	Reconcile(ctx context.Context, reason string) error
}

// Scanner looks for drift between reconciles. Scans run in the agent's loop, so they never overlap a
// reconcile or each other.
type Scanner interface {
	Scan(ctx context.Context, reason string) error
}

// Agent serialises reconciles and coalesces their triggers.
type Agent struct {
	r        Reconciler
	interval time.Duration
	settle   time.Duration
	log      *slog.Logger

	wake chan struct{} // capacity 1: a pending trigger; more triggers fold into it

	scanner      Scanner
	scanInterval time.Duration
	scanWake     chan struct{} // capacity 1, like wake
	scanReasons  []string      // guarded by mu

	lastRun time.Time // when the last reconcile ended; zero before the first (only Run's goroutine)

	retryBase time.Duration // first retry after a transient failure; doubles up to the interval
	failures  int           // consecutive transient failures
	retry     *time.Timer

	mu      sync.Mutex
	reasons []string       // why the pending run happens
	waiters []chan<- error // callers of Reconcile waiting for the next run

	// idle runs after each run and scan: debug.FreeOSMemory. The agent sleeps between runs for most of
	// its life; without it its RSS stays at the high-water mark of its largest run (a drift scan, a first
	// apply indexing a year of journal) instead of what it holds, which is what a container's memory
	// limit and an operator's `top` see. A forced GC every run costs a few milliseconds at this heap size.
	idle func()
}

// Option configures an Agent.
type Option func(*Agent)

// WithInterval sets how often the agent reconciles without a trigger (default one minute).
func WithInterval(d time.Duration) Option { return func(a *Agent) { a.interval = d } }

// WithSettle sets the settle delay (default 200 ms). A reconcile trigger that arrives when no run ended
// within it runs at once; triggers during a run or within the delay after it make one more run, the
// delay after the run ended, so that a burst of events (a push moving many refs) makes at most two runs
// and runs never follow each other closer than the delay. A drift scan waits the delay after its
// trigger, so that it does not read a file still being written.
func WithSettle(d time.Duration) Option { return func(a *Agent) { a.settle = d } }

// WithRetry sets the first retry delay after a transient failure (default 5 s); it doubles on every
// consecutive failure, up to the interval.
func WithRetry(d time.Duration) Option { return func(a *Agent) { a.retryBase = d } }

// WithScanner runs s every interval and on TriggerScan (drift checks between reconciles).
func WithScanner(s Scanner, interval time.Duration) Option {
	return func(a *Agent) { a.scanner, a.scanInterval = s, interval }
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(a *Agent) { a.log = l } }

// New returns an agent around r.
func New(r Reconciler, opts ...Option) *Agent {
	a := &Agent{r: r, interval: time.Minute, settle: 200 * time.Millisecond, log: slog.Default(),
		wake: make(chan struct{}, 1), scanWake: make(chan struct{}, 1), retryBase: 5 * time.Second,
		idle: debug.FreeOSMemory}
	for _, o := range opts {
		o(a)
	}
	return a
}

// Trigger asks for a reconcile soon. It never blocks.
func (a *Agent) Trigger(reason string) {
	a.mu.Lock()
	a.reasons = append(a.reasons, reason)
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default: // a run is already pending: this trigger rides along
	}
}

// TriggerScan asks for a drift scan soon (a watched file changed, a container started). It never blocks;
// without a scanner it does nothing.
func (a *Agent) TriggerScan(reason string) {
	if a.scanner == nil {
		return
	}
	a.mu.Lock()
	a.scanReasons = append(a.scanReasons, reason)
	a.mu.Unlock()
	select {
	case a.scanWake <- struct{}{}:
	default:
	}
}

// Reconcile triggers a run and waits for it to finish, returning its error.
func (a *Agent) Reconcile(ctx context.Context, reason string) error {
	done := make(chan error, 1)
	a.mu.Lock()
	a.waiters = append(a.waiters, done)
	a.mu.Unlock()
	a.Trigger(reason)
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run reconciles once at start, then on every trigger and every interval, until ctx is cancelled. A
// run in progress when ctx is cancelled finishes first (the reconciler gets the cancelled context and
// parks or rolls back its transaction).
func (a *Agent) Run(ctx context.Context) error {
	a.Trigger("start")
	tick := time.NewTicker(a.interval)
	defer tick.Stop()
	var scanTick <-chan time.Time
	if a.scanner != nil && a.scanInterval > 0 {
		t := time.NewTicker(a.scanInterval)
		defer t.Stop()
		scanTick = t.C
	}
	for {
		// A pending reconcile goes first: it ends with a scan of its own.
		select {
		case <-a.wake:
			if !a.sleep(ctx, a.runDelay()) {
				a.release(ctx.Err())
				return nil
			}
			a.runOnce(ctx)
			a.idle()
			continue
		default:
		}
		select {
		case <-ctx.Done():
			a.release(ctx.Err())
			return nil
		case <-tick.C:
			a.Trigger("interval")
		case <-scanTick:
			a.TriggerScan("interval")
		case <-a.wake:
			if !a.sleep(ctx, a.runDelay()) {
				a.release(ctx.Err())
				return nil
			}
			a.runOnce(ctx)
			a.idle()
		case <-a.scanWake:
			if !a.sleep(ctx, a.settle) {
				a.release(ctx.Err())
				return nil
			}
			a.scanOnce(ctx)
			a.idle()
		}
	}
}

func (a *Agent) scanOnce(ctx context.Context) {
	select {
	case <-a.scanWake:
	default:
	}
	a.mu.Lock()
	reasons := a.scanReasons
	a.scanReasons = nil
	a.mu.Unlock()
	if err := a.scanner.Scan(ctx, joinReasons(reasons)); err != nil {
		a.log.Warn("drift scan", "reasons", joinReasons(reasons), "error", err)
	}
}

func (a *Agent) runOnce(ctx context.Context) {
	// Drain a wake that arrived during the settle delay first: its reason and waiter are taken below.
	// (Draining after taking them could swallow the wake of a trigger that lands in between.)
	select {
	case <-a.wake:
	default:
	}
	a.mu.Lock()
	reasons, waiters := a.reasons, a.waiters
	a.reasons, a.waiters = nil, nil
	a.mu.Unlock()
	start := time.Now()
	err := a.r.Reconcile(ctx, joinReasons(reasons))
	level := slog.LevelInfo // a failed run is a warning; what is stuck is logged per secret, as an error
	if err != nil {
		level = slog.LevelWarn
	}
	a.lastRun = time.Now()
	a.log.Log(ctx, level, "reconciled", "reasons", joinReasons(reasons), "duration", time.Since(start).Round(time.Millisecond), "error", errString(err))
	a.scheduleRetry(err)
	for _, w := range waiters {
		w <- err
	}
}

// scheduleRetry retries a transient failure with exponential backoff, capped at the interval; the last
// good state stays applied meanwhile.
func (a *Agent) scheduleRetry(err error) {
	if a.retry != nil {
		a.retry.Stop()
		a.retry = nil
	}
	if !app.IsTransient(err) {
		a.failures = 0
		return
	}
	delay := a.retryBase << min(a.failures, 16)
	if delay > a.interval || delay <= 0 {
		delay = a.interval
	}
	a.failures++
	a.log.Warn("will retry", "in", delay, "consecutive_failures", a.failures)
	a.retry = time.AfterFunc(delay, func() { a.Trigger("retry") })
}

// release answers waiters when the agent stops.
func (a *Agent) release(err error) {
	a.mu.Lock()
	waiters := a.waiters
	a.waiters = nil
	a.mu.Unlock()
	for _, w := range waiters {
		w <- err
	}
}

// runDelay is how long a woken reconcile waits before it starts: nothing when the agent has been quiet
// for the settle delay (a lone trigger, the webhook of a push, runs at once), else what is left of the
// delay since the last run ended (triggers during or right after a run ride together in the next).
func (a *Agent) runDelay() time.Duration {
	if a.lastRun.IsZero() {
		return 0
	}
	return a.settle - time.Since(a.lastRun)
}

func (a *Agent) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func joinReasons(rs []string) string {
	seen := map[string]bool{}
	out := ""
	for _, r := range rs {
		if seen[r] {
			continue
		}
		seen[r] = true
		if out != "" {
			out += ", "
		}
		out += r
	}
	return out
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
