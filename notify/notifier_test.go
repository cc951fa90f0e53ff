package notify

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// receiver is a webhook endpoint on 127.0.0.1 that records what shoutrrr's generic service posts to it.
type receiver struct {
	srv      *httptest.Server
	status   int           // answered to every request (default 200)
	hold     chan struct{} // when non-nil, requests hang until it is closed
	requests chan string   // every body received, in order

	mu     sync.Mutex
	bodies []string
}

// newReceiver starts a receiver; configure sets status and hold before it serves. It is shut down when the
// test ends, hanging requests released first (httptest.Server.Close waits for them).
func newReceiver(t *testing.T, configure func(*receiver)) *receiver {
	t.Helper()
	r := &receiver{status: http.StatusOK, requests: make(chan string, 100)}
	if configure != nil {
		configure(r)
	}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies = append(r.bodies, string(b))
		r.mu.Unlock()
		r.requests <- string(b)
		if r.hold != nil {
			select {
			case <-r.hold:
			case <-req.Context().Done():
			}
		}
		w.WriteHeader(r.status)
		_, _ = io.WriteString(w, "receiver says no to Tok3n-in-response\n")
	}))
	t.Cleanup(r.srv.Close)
	if r.hold != nil {
		hold := r.hold
		t.Cleanup(func() { // runs before srv.Close
			select {
			case <-hold:
			default:
				close(hold)
			}
		})
	}
	return r
}

// url is the generic-webhook service URL for the receiver, carrying the given path.
func (r *receiver) url(path string) string {
	return "generic://" + r.srv.Listener.Addr().String() + path + "?disabletls=yes"
}

func (r *receiver) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.bodies)
}

// titles returns the first line of every body received.
func (r *receiver) titles() []string {
	var out []string
	for _, b := range r.got() {
		title, _, _ := strings.Cut(b, "\n")
		out = append(out, title)
	}
	return out
}

// logBuffer is a concurrency-safe sink for slog output.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func testLogger() (*slog.Logger, *logBuffer) {
	lb := &logBuffer{}
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

// newTestNotifier builds a Notifier with fast retries and a captured log, closed when the test ends.
func newTestNotifier(t *testing.T, urls []string, opts ...Option) (*Notifier, *logBuffer) {
	t.Helper()
	l, lb := testLogger()
	n, err := New(urls, append([]Option{WithLogger(l), withRetry(2, time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.Close(ctx)
	})
	return n, lb
}

// flush waits until everything queued has been sent (or failed).
func flush(t *testing.T, n *Notifier) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// returnsNow fails the test if f does not return promptly. The bound is only a guard against a hung test;
// the tests assert non-blocking behaviour by calling f while the receiver is provably blocked.
func returnsNow(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s blocked", what)
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var staleWorker = Incident{Kind: KindDrift, Secret: "db_password", Consumer: "worker", State: "stale-consumer",
	Commit: "abc1234", Reason: "consumer runs generation 3, desired is 4"}

func TestRaiseAlertsOnceAndClearRecoversOnce(t *testing.T) {
	rcv := newReceiver(t, nil)
	n, _ := newTestNotifier(t, []string{rcv.url("/hook")})

	if !n.Raise(staleWorker) {
		t.Error("first Raise reported nothing due")
	}
	again := staleWorker
	again.Reason = "reworded by the next scan"
	again.Time = time.Now().Add(time.Minute)
	if n.Raise(again) {
		t.Error("Raise of the same key and state reported an alert due")
	}
	if !n.Clear("drift/db_password/worker") {
		t.Error("Clear of a raised key reported nothing due")
	}
	if n.Clear("drift/db_password/worker") {
		t.Error("second Clear reported a notice due")
	}
	if n.Clear("drift/never/raised") {
		t.Error("Clear of an unknown key reported a notice due")
	}
	flush(t, n)

	want := []string{
		"[rekey] drift: secret db_password consumer worker is stale-consumer (commit abc1234)",
		"[rekey] resolved: drift: secret db_password consumer worker is no longer stale-consumer",
	}
	if got := rcv.titles(); !slices.Equal(got, want) {
		t.Fatalf("received\n%q\nwant\n%q", got, want)
	}
	body := rcv.got()[0]
	for _, s := range []string{"reason: consumer runs generation 3, desired is 4", "secret: db_password",
		"consumer: worker", "state: stale-consumer", "commit: abc1234", "key: drift/db_password/worker"} {
		if !strings.Contains(body, s) {
			t.Errorf("alert body lacks %q:\n%s", s, body)
		}
	}
	if n.Sent() != 2 || n.Failed() != 0 || n.Dropped() != 0 {
		t.Errorf("sent/failed/dropped = %d/%d/%d, want 2/0/0", n.Sent(), n.Failed(), n.Dropped())
	}
}

func TestStateOrCommitChangeAlertsAgain(t *testing.T) {
	rcv := newReceiver(t, nil)
	n, _ := newTestNotifier(t, []string{rcv.url("/hook")})

	inc := staleWorker
	n.Raise(inc)
	n.Raise(inc) // same: nothing
	inc.State = "source-edited"
	n.Raise(inc) // new state
	n.Raise(inc) // same: nothing
	inc.Commit = "def5678"
	n.Raise(inc) // new commit
	flush(t, n)

	want := []string{
		"[rekey] drift: secret db_password consumer worker is stale-consumer (commit abc1234)",
		"[rekey] drift: secret db_password consumer worker is source-edited (commit abc1234)",
		"[rekey] drift: secret db_password consumer worker is source-edited (commit def5678)",
	}
	if got := rcv.titles(); !slices.Equal(got, want) {
		t.Fatalf("received\n%q\nwant\n%q", got, want)
	}
}

func TestSyncClearsVanishedIncidentsOfItsKind(t *testing.T) {
	rcv := newReceiver(t, nil)
	n, _ := newTestNotifier(t, []string{rcv.url("/hook")})

	api := Incident{Secret: "api_key", Consumer: "api", State: "stale-consumer"} // Kind filled in by Sync
	web := Incident{Kind: KindDrift, Secret: "api_key", Consumer: "web", State: "source-edited"}
	refused := Incident{Key: "refused/main", Kind: KindRefused, State: "refused", Commit: "def5678"}

	n.Raise(refused)
	n.Sync(KindDrift, []Incident{api, web})
	n.Sync(KindDrift, []Incident{web, api}) // same scan again: nothing
	n.Sync(KindDrift, []Incident{web})      // api went away
	n.Sync(KindDrift, nil)                  // all drift gone; the refused commit is another kind
	n.Sync(KindDrift, nil)
	flush(t, n)

	want := []string{
		"[rekey] refused: commit def5678 is refused",
		"[rekey] drift: secret api_key consumer api is stale-consumer",
		"[rekey] drift: secret api_key consumer web is source-edited",
		"[rekey] resolved: drift: secret api_key consumer api is no longer stale-consumer",
		"[rekey] resolved: drift: secret api_key consumer web is no longer source-edited",
	}
	if got := rcv.titles(); !slices.Equal(got, want) {
		t.Fatalf("received\n%q\nwant\n%q", got, want)
	}
	active := n.Active()
	if len(active) != 1 || active[0].Key != "refused/main" {
		t.Errorf("Active = %+v, want only refused/main", active)
	}
}

func TestZeroURLsOnlyTracksState(t *testing.T) {
	n, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	n.now = func() time.Time { return now }

	if !n.Raise(Incident{Kind: KindRotation, Secret: "b", State: "failed"}) {
		t.Error("Raise reported nothing due")
	}
	n.Raise(Incident{Kind: KindDrift, Secret: "a", Consumer: "x", State: "stale-consumer"})
	n.Raise(Incident{Key: "c", Kind: KindRefused, State: "refused"})
	if n.Raise(Incident{Key: "c", Kind: KindRefused, State: "refused"}) {
		t.Error("duplicate Raise reported an alert due")
	}

	var keys []string
	for _, inc := range n.Active() {
		keys = append(keys, inc.Key)
		if !inc.Time.Equal(now) {
			t.Errorf("%s: Time = %v, want now", inc.Key, inc.Time)
		}
	}
	if want := []string{"c", "drift/a/x", "rotation/b"}; !slices.Equal(keys, want) {
		t.Errorf("Active keys = %q, want %q", keys, want)
	}
	if !n.Clear("c") || n.Clear("c") {
		t.Error("Clear: want true once, then false")
	}
	if n.Sent()+n.Failed()+n.Dropped() != 0 {
		t.Error("counters moved without URLs")
	}
	if err := n.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// The shortcut form "generic+http://host/path" posts to the same webhook as "generic://host/path?disabletls=yes".
func TestGenericCustomURL(t *testing.T) {
	var paths []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		paths = append(paths, r.Method+" "+r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	host := srv.Listener.Addr().String()
	n, _ := newTestNotifier(t, []string{"generic+http://" + host + "/a/hook", "generic://" + host + "/b/hook?disabletls=yes"})
	n.Raise(staleWorker)
	flush(t, n)

	mu.Lock()
	defer mu.Unlock()
	slices.Sort(paths)
	if want := []string{"POST /a/hook", "POST /b/hook"}; !slices.Equal(paths, want) {
		t.Errorf("requests = %q, want %q", paths, want)
	}
	if n.Sent() != 2 {
		t.Errorf("Sent = %d, want 2 (one per URL)", n.Sent())
	}
}

func TestFailingReceiverIsRetriedAndCounted(t *testing.T) {
	bad := newReceiver(t, func(r *receiver) { r.status = http.StatusInternalServerError })
	good := newReceiver(t, nil)
	const password, token = "pa55-w0rd-9", "Tok3n-7f3a9c"
	badURL := "generic://alerts:" + password + "@" + bad.srv.Listener.Addr().String() + "/hooks/" + token + "?disabletls=yes"
	n, logs := newTestNotifier(t, []string{good.url("/hook"), badURL})

	n.Raise(staleWorker)
	flush(t, n)

	if got := len(bad.got()); got != 3 {
		t.Errorf("failing receiver got %d requests, want 3 (one send, two retries)", got)
	}
	if got := len(good.got()); got != 1 {
		t.Errorf("healthy receiver got %d requests, want 1", got)
	}
	if n.Sent() != 1 || n.Failed() != 1 {
		t.Errorf("sent/failed = %d/%d, want 1/1", n.Sent(), n.Failed())
	}
	out := logs.String()
	for _, s := range []string{`msg="failed to send alert"`, "url=#2", "service=generic", "500 Internal Server Error"} {
		if !strings.Contains(out, s) {
			t.Errorf("log lacks %q:\n%s", s, out)
		}
	}
	for _, s := range []string{password, token, badURL, "alerts:"} {
		if strings.Contains(out, s) {
			t.Errorf("log contains %q:\n%s", s, out)
		}
	}
}

// A receiver that cannot be reached makes Go's HTTP client quote the request URL in its error; none of the
// URL's credentials may reach the log.
func TestUnreachableReceiverLogsNoURL(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused

	const user, password, token, header = "alertbot", "pa55-w0rd-9", "Tok3n-7f3a9c", "hdr-S3cret-42"
	raw := "generic://" + user + ":" + password + "@" + addr + "/hooks/" + token +
		"?disabletls=yes&@Authorization=Bearer+" + header
	n, logs := newTestNotifier(t, []string{raw}, WithTimeout(5*time.Second))
	n.Raise(staleWorker)
	flush(t, n)

	if n.Failed() != 1 {
		t.Errorf("Failed = %d, want 1", n.Failed())
	}
	out := logs.String()
	if !strings.Contains(out, "connection refused") {
		t.Errorf("log lacks the cause:\n%s", out)
	}
	for _, s := range []string{user, password, token, header, addr, "http://", raw} {
		if strings.Contains(out, s) {
			t.Errorf("log contains %q:\n%s", s, out)
		}
	}
}

func TestHangingReceiverDoesNotBlockCaller(t *testing.T) {
	rcv := newReceiver(t, func(r *receiver) { r.hold = make(chan struct{}) })
	n, logs := newTestNotifier(t, []string{rcv.url("/hook")}, WithTimeout(50*time.Millisecond), withRetry(0, 0))

	returnsNow(t, "Raise", func() { n.Raise(staleWorker) })
	<-rcv.requests // the worker's send has reached the receiver, which now hangs

	// The receiver is blocked (hold is open) for everything below.
	returnsNow(t, "Raise while the receiver hangs", func() {
		n.Raise(Incident{Kind: KindRotation, Secret: "api_key", State: "rolled-back"})
	})
	returnsNow(t, "Clear while the receiver hangs", func() { n.Clear("drift/db_password/worker") })
	returnsNow(t, "Sync while the receiver hangs", func() { n.Sync(KindDrift, nil) })

	// The hung send times out; the two later messages find it still running and time out waiting for it,
	// instead of piling more connections on the receiver.
	eventually(t, "three failures", func() bool { return n.Failed() == 3 })
	if got := len(rcv.got()); got != 1 {
		t.Errorf("receiver got %d requests while hanging, want 1", got)
	}
	if n.Sent() != 0 {
		t.Errorf("Sent = %d, want 0", n.Sent())
	}
	if !strings.Contains(logs.String(), "timed out after 50ms") {
		t.Errorf("log lacks the timeout:\n%s", logs.String())
	}

	close(rcv.hold) // the receiver recovers: the next alert goes through
	n.Raise(Incident{Kind: KindRevocation, Secret: "stripe_key", State: "overdue"})
	flush(t, n)
	if n.Sent() != 1 {
		t.Errorf("Sent after recovery = %d, want 1", n.Sent())
	}
}

func TestFullQueueDropsOldest(t *testing.T) {
	rcv := newReceiver(t, func(r *receiver) { r.hold = make(chan struct{}) })
	n, logs := newTestNotifier(t, []string{rcv.url("/hook")}, WithQueueSize(2))

	n.Raise(Incident{Kind: KindDrift, Secret: "s1", State: "stale-consumer"})
	<-rcv.requests // s1 is being sent; the queue is empty again
	for _, s := range []string{"s2", "s3", "s4", "s5"} {
		returnsNow(t, "Raise with a full queue", func() {
			n.Raise(Incident{Kind: KindDrift, Secret: s, State: "stale-consumer"})
		})
	}
	if n.Dropped() != 2 {
		t.Errorf("Dropped = %d, want 2", n.Dropped())
	}
	out := logs.String()
	for _, s := range []string{"alert queue full; dropped the oldest alert", "key=drift/s2", "key=drift/s3"} {
		if !strings.Contains(out, s) {
			t.Errorf("log lacks %q:\n%s", s, out)
		}
	}

	close(rcv.hold)
	flush(t, n)
	want := []string{
		"[rekey] drift: secret s1 is stale-consumer",
		"[rekey] drift: secret s4 is stale-consumer",
		"[rekey] drift: secret s5 is stale-consumer",
	}
	if got := rcv.titles(); !slices.Equal(got, want) {
		t.Errorf("received\n%q\nwant\n%q", got, want)
	}
	if len(n.Active()) != 5 {
		t.Errorf("Active has %d incidents, want 5: dropping a message forgets no incident", len(n.Active()))
	}
}

func TestCloseGivesUpAtDeadline(t *testing.T) {
	rcv := newReceiver(t, func(r *receiver) { r.hold = make(chan struct{}) })
	n, _ := newTestNotifier(t, []string{rcv.url("/hook")})

	n.Raise(Incident{Kind: KindDrift, Secret: "s1", State: "stale-consumer"})
	<-rcv.requests
	n.Raise(Incident{Kind: KindDrift, Secret: "s2", State: "stale-consumer"}) // queued behind the hung send

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var err error
	returnsNow(t, "Close at its deadline", func() { err = n.Close(ctx) })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v, want deadline exceeded", err)
	}
	if n.Failed() != 1 || n.Dropped() != 1 {
		t.Errorf("failed/dropped = %d/%d, want 1/1", n.Failed(), n.Dropped())
	}

	// After Close incidents are still tracked, but nothing is sent.
	if !n.Raise(Incident{Kind: KindDrift, Secret: "s3", State: "stale-consumer"}) {
		t.Error("Raise after Close reported nothing due")
	}
	if n.Dropped() != 2 {
		t.Errorf("Dropped after Close = %d, want 2", n.Dropped())
	}
	if err := n.Close(t.Context()); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestNothingSecretLeaves(t *testing.T) {
	const value = "hunter2-V4lue"
	rcv := newReceiver(t, func(r *receiver) { r.status = http.StatusBadGateway })
	n, logs := newTestNotifier(t, []string{rcv.url("/hook")},
		WithRedactor(func(s string) string { return strings.ReplaceAll(s, value, "[value]") }),
		WithHostname("box-1"))

	// A careless caller put a value in the reason; the redactor is the second line of defence.
	n.Raise(Incident{Kind: KindRotation, Secret: "db_password", State: "failed", Reason: "engine said: bad password " + value})
	flush(t, n)

	got := rcv.got()
	if len(got) == 0 {
		t.Fatal("nothing received")
	}
	for _, b := range got {
		if strings.Contains(b, value) {
			t.Errorf("alert contains the value:\n%s", b)
		}
		if !strings.Contains(b, "reason: engine said: bad password [value]") || !strings.Contains(b, "host: box-1") {
			t.Errorf("alert body:\n%s", b)
		}
	}
	if strings.Contains(logs.String(), value) {
		t.Errorf("log contains the value:\n%s", logs.String())
	}
}
