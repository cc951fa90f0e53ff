// Package notify alerts humans about rekey incidents — drift found and resolved, failed or rolled-back
// rotations, refused commits, overdue external revocations, repeated transient failures — through shoutrrr
// service URLs (Slack, ntfy, e-mail, a generic webhook, …).
//
// Alerts are de-duplicated by incident key: Raise sends one alert per key until the incident's State or
// Commit changes, and Clear sends one recovery notice for a key that was raised. The agent calls Sync after
// every scan with the incidents it still sees, so a problem that persists across scans alerts once, and one
// that goes away is announced as resolved once.
//
// Sending never blocks the caller. Messages go through a bounded queue to one background worker, which
// sends to every URL with a per-send timeout and a few retries. When the queue is full the oldest message
// is dropped, counted and logged.
//
// Secrets: shoutrrr URLs carry tokens and passwords, so after New no URL is kept as text; logs and errors
// name a URL by its position ("#2") and service ("slack"), and error text from services is scrubbed of every
// part of every configured URL and of anything URL-shaped before it is logged. Messages carry names only
// (secret, consumer, state, commit, reason), and both they and logged errors also pass through the
// WithRedactor function.
package notify

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rekeyhq/rekey/internal/redact"
)

// Defaults for the options.
const (
	DefaultTimeout   = 10 * time.Second
	DefaultQueueSize = 64
)

// Retry policy: two retries, after 1s and 2s. Alerts are not worth more: a receiver that is down for longer
// is logged as failed, and the incident is still listed by Active.
const (
	defaultRetries = 2
	defaultBackoff = time.Second
)

// Notifier raises and clears incidents and sends alerts about them. It is safe for concurrent use. A
// Notifier without URLs only tracks incidents, so callers need no nil checks.
type Notifier struct {
	log       *slog.Logger
	redact    func(string) string // the caller's, applied to messages and logged errors
	host      string
	timeout   time.Duration
	queueSize int
	retries   int
	backoff   time.Duration
	now       func() time.Time

	sinks    []*sink
	urlParts *redact.Redactor // every part of every URL, for scrubbing error text

	mu     sync.Mutex
	raised map[string]Incident // by key: what the receivers were last told is active

	q      *queue // nil without URLs
	stop   context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when the worker has exited

	sent, failed, dropped atomic.Uint64
}

// Option configures a Notifier.
type Option func(*Notifier)

// WithLogger sets the logger for delivery failures and drops; the default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(n *Notifier) {
		if l != nil {
			n.log = l
		}
	}
}

// WithRedactor sets a function applied to every message before it is sent and to every error text before
// it is logged, e.g. one that masks the values of the secrets rekey manages. Incidents should carry no
// values in the first place; this is the second line of defence.
func WithRedactor(f func(string) string) Option {
	return func(n *Notifier) {
		if f != nil {
			n.redact = f
		}
	}
}

// WithTimeout bounds each send to one service (default DefaultTimeout). Values of zero or less keep the
// default.
func WithTimeout(d time.Duration) Option {
	return func(n *Notifier) {
		if d > 0 {
			n.timeout = d
		}
	}
}

// WithQueueSize sets how many messages may wait to be sent (default DefaultQueueSize). Values of zero or less
// keep the default.
func WithQueueSize(size int) Option {
	return func(n *Notifier) {
		if size > 0 {
			n.queueSize = size
		}
	}
}

// WithHostname names the machine in every message, for a team that receives alerts from several hosts in
// one channel. The default is none.
func WithHostname(host string) Option {
	return func(n *Notifier) { n.host = host }
}

// withRetry sets the retry policy; tests use it to avoid waiting for the real backoff.
func withRetry(retries int, backoff time.Duration) Option {
	return func(n *Notifier) { n.retries, n.backoff = max(retries, 0), backoff }
}

// New validates every URL and returns a Notifier that sends to all of them; with no URLs it only tracks
// incidents. An invalid URL is reported by its position, e.g. `alert URL #2: unsupported service "foo"`;
// the URL itself is never part of the error. With URLs, the Notifier runs a goroutine until Close.
func New(urls []string, opts ...Option) (*Notifier, error) {
	n := &Notifier{
		log:       slog.Default(),
		redact:    func(s string) string { return s },
		timeout:   DefaultTimeout,
		queueSize: DefaultQueueSize,
		retries:   defaultRetries,
		backoff:   defaultBackoff,
		now:       time.Now,
		raised:    map[string]Incident{},
	}
	for _, o := range opts {
		o(n)
	}
	var parts []string
	for _, u := range urls {
		parts = append(parts, urlSecrets(u)...)
	}
	n.urlParts = redact.New(parts...)
	for i, u := range urls {
		s, err := newSink(i+1, u, n.scrub)
		if err != nil {
			return nil, err
		}
		n.sinks = append(n.sinks, s)
	}
	if len(n.sinks) > 0 {
		n.q = newQueue(n.queueSize)
		n.stop, n.cancel = context.WithCancel(context.Background())
		n.done = make(chan struct{})
		go n.run()
	}
	return n, nil
}

// Raise records inc as active and, unless the same key was already raised with the same State and Commit,
// queues an alert about it. It reports whether an alert was due (queued, or only recorded when the Notifier
// has no URLs). A zero Time is set to now; an empty Key is derived from Kind, Secret and Consumer.
func (n *Notifier) Raise(inc Incident) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.raiseLocked(inc)
}

// Clear records the incident with key as resolved and queues one recovery notice, if it was raised. It
// reports whether it was: clearing an unknown or already cleared key does nothing.
func (n *Notifier) Clear(key string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.clearLocked(key)
}

// Sync makes the incidents of one kind match a scan: it raises every incident in active (filling in an
// empty Kind with kind) and clears every raised incident of that kind whose key is not among them. Incidents
// of other kinds are left alone, so each source of incidents syncs only its own.
func (n *Notifier) Sync(kind string, active []Incident) {
	n.mu.Lock()
	defer n.mu.Unlock()
	seen := make(map[string]bool, len(active))
	for _, inc := range active {
		if inc.Kind == "" {
			inc.Kind = kind
		}
		n.raiseLocked(inc)
		seen[inc.key()] = true
	}
	var gone []string
	for key, inc := range n.raised {
		if inc.Kind == kind && !seen[key] {
			gone = append(gone, key)
		}
	}
	slices.Sort(gone) // recovery notices in a stable order
	for _, key := range gone {
		n.clearLocked(key)
	}
}

// Active returns the raised incidents, sorted by key, for a status page.
func (n *Notifier) Active() []Incident {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := slices.Collect(maps.Values(n.raised))
	slices.SortFunc(out, func(a, b Incident) int { return cmp.Compare(a.Key, b.Key) })
	return out
}

// Sent is the number of messages delivered, counted once per URL.
func (n *Notifier) Sent() uint64 { return n.sent.Load() }

// Failed is the number of messages that could not be delivered after all retries, counted once per URL.
func (n *Notifier) Failed() uint64 { return n.failed.Load() }

// Dropped is the number of messages never sent because the queue was full or the Notifier was closing.
func (n *Notifier) Dropped() uint64 { return n.dropped.Load() }

// Close sends what is queued and stops the worker. If ctx ends first, sends in progress are abandoned, what
// is still queued is dropped, and the error says so. Raise and Clear keep tracking incidents after Close but
// send nothing. Close may be called more than once.
func (n *Notifier) Close(ctx context.Context) error {
	if n.q == nil {
		return nil
	}
	n.q.close()
	select {
	case <-n.done:
		return nil
	case <-ctx.Done():
	}
	n.cancel()
	<-n.done
	return fmt.Errorf("failed to flush alerts: %w", ctx.Err())
}

func (n *Notifier) raiseLocked(inc Incident) bool {
	inc.Key = inc.key()
	if inc.Time.IsZero() {
		inc.Time = n.now()
	}
	if prev, ok := n.raised[inc.Key]; ok && sameAlert(prev, inc) {
		return false
	}
	n.raised[inc.Key] = inc
	n.enqueue(alertMessage(inc, n.host))
	return true
}

func (n *Notifier) clearLocked(key string) bool {
	inc, ok := n.raised[key]
	if !ok {
		return false
	}
	delete(n.raised, key)
	n.enqueue(resolvedMessage(inc, n.host, n.now()))
	return true
}

// enqueue hands m to the worker. It is called with n.mu held, so messages are queued in the order of the
// state changes they announce.
func (n *Notifier) enqueue(m message) {
	if n.q == nil {
		return
	}
	m.title, m.body = n.redact(m.title), n.redact(m.body)
	lost, full, closed := n.q.push(m)
	switch {
	case closed:
		n.dropped.Add(1)
		n.log.Debug("alert not sent: notifier closed", "key", m.key)
	case full:
		n.dropped.Add(1)
		n.log.Warn("alert queue full; dropped the oldest alert", "key", lost.key, "queue_size", n.queueSize)
	}
}

// run is the worker: it sends queued messages one at a time, in order, until the queue is closed and empty
// or Close gives up waiting.
func (n *Notifier) run() {
	defer close(n.done)
	for {
		if n.stop.Err() != nil {
			if lost := n.q.drain(); lost > 0 {
				n.dropped.Add(uint64(lost))
				n.log.Warn("alerts not sent before shutdown", "count", lost)
			}
			return
		}
		m, ok, closed := n.q.pop()
		if ok {
			n.dispatch(m)
			continue
		}
		if closed {
			return
		}
		select {
		case <-n.q.wake:
		case <-n.stop.Done():
		}
	}
}

// dispatch sends m to every URL in parallel, so one slow service delays the others by nothing, and waits for
// all of them so that the next message cannot overtake this one at any service.
func (n *Notifier) dispatch(m message) {
	text := m.text()
	var wg sync.WaitGroup
	for _, s := range n.sinks {
		wg.Go(func() {
			url := fmt.Sprintf("#%d", s.pos)
			err := s.deliver(n.stop, text, m.title, n.timeout, n.retries, n.backoff, func(attempt int, err error) {
				n.log.Debug("alert send failed; retrying", "url", url, "service", s.scheme, "key", m.key,
					"attempt", attempt, "err", n.scrub(err.Error()))
			})
			if err != nil {
				n.failed.Add(1)
				n.log.Error("failed to send alert", "url", url, "service", s.scheme, "key", m.key,
					"err", n.scrub(err.Error()))
				return
			}
			n.sent.Add(1)
			n.log.Debug("alert sent", "url", url, "service", s.scheme, "key", m.key)
		})
	}
	wg.Wait()
}

// scrub makes error text safe to log: it removes every part of every configured URL, then anything still
// URL-shaped, then applies the caller's redactor.
func (n *Notifier) scrub(s string) string {
	s = n.urlParts.String(s)
	s = urlPattern.ReplaceAllString(s, "[redacted URL]")
	return n.redact(s)
}
