package metrics

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// clock is a settable time source, so that nothing in these tests depends on real time passing.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTest(t *testing.T, opts ...Option) (*Metrics, *clock) {
	t.Helper()
	c := newClock()
	return New(append([]Option{WithClock(c.Now), WithBuildInfo("v1.2.3", "abc123")}, opts...)...), c
}

// samples gathers the named families and renders each series as `name{l="v",…} value`, sorted.
// Histograms render as their _count and _sum.
func samples(t *testing.T, m *Metrics, name string) []string {
	t.Helper()
	fams, err := m.reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var out []string
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.GetMetric() {
			ls := labelString(s)
			switch f.GetType() {
			case dto.MetricType_HISTOGRAM:
				h := s.GetHistogram()
				out = append(out, fmt.Sprintf("%s_count%s %d", name, ls, h.GetSampleCount()),
					fmt.Sprintf("%s_sum%s %g", name, ls, h.GetSampleSum()))
			case dto.MetricType_COUNTER:
				out = append(out, fmt.Sprintf("%s%s %g", name, ls, s.GetCounter().GetValue()))
			default:
				out = append(out, fmt.Sprintf("%s%s %g", name, ls, s.GetGauge().GetValue()))
			}
		}
	}
	slices.Sort(out)
	return out
}

func labelString(s *dto.Metric) string {
	if len(s.GetLabel()) == 0 {
		return ""
	}
	var b []string
	for _, l := range s.GetLabel() {
		b = append(b, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	return "{" + strings.Join(b, ",") + "}"
}

func expectSamples(t *testing.T, m *Metrics, name string, want ...string) {
	t.Helper()
	got := samples(t, m, name)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got  %q\n want %q", name, got, want)
	}
}

// scrape fetches /metrics through the handler and parses the text exposition.
func scrape(t *testing.T, m *Metrics) (string, map[string]*dto.MetricFamily) {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d: %s", rec.Code, rec.Body)
	}
	body := rec.Body.String()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return body, fams
}

func TestRotations(t *testing.T) {
	m, c := newTest(t)
	t1 := c.Now().Add(-time.Hour)
	m.ObserveRotation("db-password", "rotated", t1)
	m.ObserveRotation("db-password", "in-sync", time.Time{})     // no-op: not counted
	m.ObserveRotation("db-password", "waiting", time.Time{})     // no-op: not counted
	m.ObserveRotation("db-password", "rolled-back", time.Time{}) // counted, not a success
	m.ObserveRotation("api-key", "verified", time.Time{})        // zero time: the clock
	c.Advance(time.Minute)
	m.ObserveRotation("api-key", "finalized", time.Time{}) // drops the previous value: no new success
	m.ObserveRotation("api-key", "refused", time.Time{})
	m.ObserveRotation("api-key", "no such outcome", time.Time{})
	m.ObserveRotation("api-key", "refused", time.Time{})

	expectSamples(t, m, "rekey_rotations_total",
		`rekey_rotations_total{outcome="rotated",secret="db-password"} 1`,
		`rekey_rotations_total{outcome="rolled-back",secret="db-password"} 1`,
		`rekey_rotations_total{outcome="verified",secret="api-key"} 1`,
		`rekey_rotations_total{outcome="finalized",secret="api-key"} 1`,
		`rekey_rotations_total{outcome="refused",secret="api-key"} 2`,
		`rekey_rotations_total{outcome="other",secret="api-key"} 1`,
	)
	expectSamples(t, m, "rekey_last_successful_rotation_timestamp_seconds",
		fmt.Sprintf(`rekey_last_successful_rotation_timestamp_seconds{secret="db-password"} %g`, float64(t1.Unix())),
		fmt.Sprintf(`rekey_last_successful_rotation_timestamp_seconds{secret="api-key"} %g`,
			float64(c.Now().Add(-time.Minute).Unix())),
	)
}

func TestEveryKnownOutcomeKeepsItsName(t *testing.T) {
	m, _ := newTest(t)
	known := []string{"rotated", "verified", "finalized", "rolled-back", "recovered", "refused", "held",
		"failed", "finalize-failed", "superseded"}
	var want []string
	for _, o := range known {
		m.ObserveRotation("s", o, time.Time{})
		want = append(want, fmt.Sprintf(`rekey_rotations_total{outcome=%q,secret="s"} 1`, o))
	}
	expectSamples(t, m, "rekey_rotations_total", want...)
}

func TestDriftReplaceRemovesVanishedPlaces(t *testing.T) {
	m, _ := newTest(t)
	expectSamples(t, m, "rekey_drift") // nothing before the first scan

	m.SetDrift([]DriftEntry{
		{Secret: "db-password", Place: "app", State: "in-sync"},
		{Secret: "db-password", Place: "source:/srv/app/.env:DB_PASSWORD", State: "source-edited"},
		{Secret: "api-key", Place: "worker", State: "stale-consumer"},
	})
	expectSamples(t, m, "rekey_drift",
		`rekey_drift{place="app",secret="db-password",state="in-sync"} 1`,
		`rekey_drift{place="source:/srv/app/.env:DB_PASSWORD",secret="db-password",state="source-edited"} 1`,
		`rekey_drift{place="worker",secret="api-key",state="stale-consumer"} 1`,
	)

	// The source was fixed and went away, app drifted, worker was removed, a new consumer appeared.
	m.SetDrift([]DriftEntry{
		{Secret: "db-password", Place: "app", State: "server-mismatch"},
		{Secret: "api-key", Place: "web", State: "in-sync"},
	})
	expectSamples(t, m, "rekey_drift",
		`rekey_drift{place="app",secret="db-password",state="server-mismatch"} 1`,
		`rekey_drift{place="web",secret="api-key",state="in-sync"} 1`,
	)

	m.SetDrift(nil)
	expectSamples(t, m, "rekey_drift")
}

func TestDriftExactlyOneStatePerPlace(t *testing.T) {
	m, _ := newTest(t)
	m.SetDrift([]DriftEntry{
		{Secret: "db-password", Place: "app", State: "in-sync"},
		{Secret: "db-password", Place: "app", State: "stale-consumer"}, // given twice: the last one wins
		{Secret: "db-password", Place: "db", State: "what-is-this"},    // unknown state
		{Secret: "api-key", Place: "app", State: "in-sync"},            // same place, other secret
	})
	expectSamples(t, m, "rekey_drift",
		`rekey_drift{place="app",secret="db-password",state="stale-consumer"} 1`,
		`rekey_drift{place="db",secret="db-password",state="unknown"} 1`,
		`rekey_drift{place="app",secret="api-key",state="in-sync"} 1`,
	)

	// And through a real scrape: every secret/place pair has exactly one series.
	_, fams := scrape(t, m)
	f := fams["rekey_drift"]
	if f == nil {
		t.Fatal("no rekey_drift in the scrape")
	}
	per := map[string]int{}
	for _, s := range f.GetMetric() {
		var secret, place string
		for _, l := range s.GetLabel() {
			switch l.GetName() {
			case "secret":
				secret = l.GetValue()
			case "place":
				place = l.GetValue()
			}
		}
		per[secret+"\x00"+place]++
		if v := s.GetGauge().GetValue(); v != 1 {
			t.Errorf("rekey_drift%s = %g, want 1", labelString(s), v)
		}
	}
	for k, n := range per {
		if n != 1 {
			t.Errorf("%q has %d states, want 1", k, n)
		}
	}
}

// A scrape running while the drift vector is replaced sees the old vector or the new one, never a mix
// or an empty one.
func TestDriftReplaceIsAtomicForScrapes(t *testing.T) {
	m, _ := newTest(t)
	a := []DriftEntry{{"s", "p1", "in-sync"}, {"s", "p2", "in-sync"}, {"s", "p3", "in-sync"}}
	b := []DriftEntry{{"s", "p1", "stale-consumer"}, {"s", "p4", "stale-consumer"}}
	m.SetDrift(a)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 2000 {
			if i%2 == 0 {
				m.SetDrift(b)
			} else {
				m.SetDrift(a)
			}
		}
	}()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		got := strings.Join(samples(t, m, "rekey_drift"), "\n")
		if !strings.Contains(got, "in-sync") == !strings.Contains(got, "stale-consumer") {
			t.Fatalf("mixed or empty drift vector:\n%s", got)
		}
		if n := strings.Count(got, "\n") + 1; strings.Contains(got, "in-sync") && n != 3 ||
			strings.Contains(got, "stale-consumer") && n != 2 {
			t.Fatalf("partial drift vector:\n%s", got)
		}
	}
}

func TestRevisionInfoResetsOnChange(t *testing.T) {
	m, c := newTest(t)
	expectSamples(t, m, "rekey_applied_revision_info")
	expectSamples(t, m, "rekey_applied_revision_timestamp_seconds")

	t1 := c.Now().Add(-10 * time.Minute)
	m.SetRevision("1111111111111111111111111111111111111111", t1)
	expectSamples(t, m, "rekey_applied_revision_info",
		`rekey_applied_revision_info{revision="1111111111111111111111111111111111111111"} 1`)
	expectSamples(t, m, "rekey_applied_revision_timestamp_seconds",
		fmt.Sprintf("rekey_applied_revision_timestamp_seconds %g", float64(t1.Unix())))

	m.SetRevision("2222222222222222222222222222222222222222", time.Time{}) // zero time: the clock
	expectSamples(t, m, "rekey_applied_revision_info",
		`rekey_applied_revision_info{revision="2222222222222222222222222222222222222222"} 1`)
	expectSamples(t, m, "rekey_applied_revision_timestamp_seconds",
		fmt.Sprintf("rekey_applied_revision_timestamp_seconds %g", float64(c.Now().Unix())))

	m.SetRevision("", time.Time{})
	expectSamples(t, m, "rekey_applied_revision_info")
	expectSamples(t, m, "rekey_applied_revision_timestamp_seconds")
}

func TestPendingRevocations(t *testing.T) {
	m, _ := newTest(t)
	expectSamples(t, m, "rekey_pending_revocations", "rekey_pending_revocations 0")
	expectSamples(t, m, "rekey_pending_revocation")

	m.SetPendingRevocations([]string{"db-password", "api-key", "db-password"})
	expectSamples(t, m, "rekey_pending_revocations", "rekey_pending_revocations 2")
	expectSamples(t, m, "rekey_pending_revocation",
		`rekey_pending_revocation{secret="api-key"} 1`,
		`rekey_pending_revocation{secret="db-password"} 1`)

	m.SetPendingRevocations([]string{"api-key"})
	expectSamples(t, m, "rekey_pending_revocations", "rekey_pending_revocations 1")
	expectSamples(t, m, "rekey_pending_revocation", `rekey_pending_revocation{secret="api-key"} 1`)

	m.SetPendingRevocations(nil)
	expectSamples(t, m, "rekey_pending_revocations", "rekey_pending_revocations 0")
	expectSamples(t, m, "rekey_pending_revocation")
}

func TestReconciles(t *testing.T) {
	m, c := newTest(t)
	// The known results exist from the start, so that increase() sees the first run.
	expectSamples(t, m, "rekey_reconciles_total",
		`rekey_reconciles_total{result="error"} 0`,
		`rekey_reconciles_total{result="ok"} 0`,
		`rekey_reconciles_total{result="refused"} 0`)
	expectSamples(t, m, "rekey_last_successful_reconcile_timestamp_seconds",
		"rekey_last_successful_reconcile_timestamp_seconds 0")

	m.ObserveReconcile(1500*time.Millisecond, "ok")
	okAt := c.Now()
	c.Advance(time.Minute)
	m.ObserveReconcile(250*time.Millisecond, "error") // not a success: the timestamp stays
	m.ObserveReconcile(2*time.Second, "refused")
	m.ObserveReconcile(time.Second, "failed to dial git.example.com") // free text: other
	expectSamples(t, m, "rekey_reconciles_total",
		`rekey_reconciles_total{result="error"} 1`,
		`rekey_reconciles_total{result="ok"} 1`,
		`rekey_reconciles_total{result="other"} 1`,
		`rekey_reconciles_total{result="refused"} 1`)
	expectSamples(t, m, "rekey_reconcile_duration_seconds",
		`rekey_reconcile_duration_seconds_count{result="error"} 1`,
		`rekey_reconcile_duration_seconds_sum{result="error"} 0.25`,
		`rekey_reconcile_duration_seconds_count{result="ok"} 1`,
		`rekey_reconcile_duration_seconds_sum{result="ok"} 1.5`,
		`rekey_reconcile_duration_seconds_count{result="other"} 1`,
		`rekey_reconcile_duration_seconds_sum{result="other"} 1`,
		`rekey_reconcile_duration_seconds_count{result="refused"} 1`,
		`rekey_reconcile_duration_seconds_sum{result="refused"} 2`)
	expectSamples(t, m, "rekey_last_successful_reconcile_timestamp_seconds",
		fmt.Sprintf("rekey_last_successful_reconcile_timestamp_seconds %g", float64(okAt.Unix())))
}

func TestDriftScanAndAlerts(t *testing.T) {
	m, _ := newTest(t)
	expectSamples(t, m, "rekey_alerts_total",
		`rekey_alerts_total{result="dropped"} 0`,
		`rekey_alerts_total{result="failed"} 0`,
		`rekey_alerts_total{result="sent"} 0`)

	m.ObserveDriftScan(20 * time.Millisecond)
	m.ObserveDriftScan(80 * time.Millisecond)
	m.AddAlerts("sent", 2)
	m.AddAlerts("sent", 1)
	m.AddAlerts("failed", 1)
	m.AddAlerts("dropped", 0)  // ignored
	m.AddAlerts("dropped", -3) // ignored: a counter never goes down
	m.AddAlerts("smtp: 550 mailbox unavailable", 1)
	expectSamples(t, m, "rekey_drift_scan_duration_seconds",
		"rekey_drift_scan_duration_seconds_count 2",
		"rekey_drift_scan_duration_seconds_sum 0.1")
	expectSamples(t, m, "rekey_alerts_total",
		`rekey_alerts_total{result="dropped"} 0`,
		`rekey_alerts_total{result="failed"} 1`,
		`rekey_alerts_total{result="other"} 1`,
		`rekey_alerts_total{result="sent"} 3`)
}

// The exact exposition, end to end through an HTTP scrape, for the series with fixed values.
func TestScrapeExposition(t *testing.T) {
	m, _ := newTest(t)
	m.SetDrift([]DriftEntry{{Secret: "db-password", Place: "app", State: "in-sync"}})
	m.SetRevision("1111111111111111111111111111111111111111", time.Unix(1700000000, 0))
	m.SetPendingRevocations([]string{"db-password"})
	m.ObserveRotation("db-password", "rotated", time.Unix(1700000100, 0))
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()

	want := `
# HELP rekey_build_info Always 1; the labels say which rekey is running.
# TYPE rekey_build_info gauge
rekey_build_info{commit="abc123",version="v1.2.3"} 1
# HELP rekey_drift 1 for the current drift state of each place a secret lives in; other states are absent.
# TYPE rekey_drift gauge
rekey_drift{place="app",secret="db-password",state="in-sync"} 1
# HELP rekey_applied_revision_info 1 for the git revision the agent last applied.
# TYPE rekey_applied_revision_info gauge
rekey_applied_revision_info{revision="1111111111111111111111111111111111111111"} 1
# HELP rekey_applied_revision_timestamp_seconds When the applied revision was applied, unix seconds.
# TYPE rekey_applied_revision_timestamp_seconds gauge
rekey_applied_revision_timestamp_seconds 1.7e+09
# HELP rekey_pending_revocations Number of secrets whose previous value still waits to be revoked.
# TYPE rekey_pending_revocations gauge
rekey_pending_revocations 1
# HELP rekey_pending_revocation 1 for each secret whose previous value still waits to be revoked.
# TYPE rekey_pending_revocation gauge
rekey_pending_revocation{secret="db-password"} 1
# HELP rekey_rotations_total Rotation events per secret and outcome.
# TYPE rekey_rotations_total counter
rekey_rotations_total{outcome="rotated",secret="db-password"} 1
# HELP rekey_last_successful_rotation_timestamp_seconds When a new value of the secret last went live (outcome rotated or verified), unix seconds.
# TYPE rekey_last_successful_rotation_timestamp_seconds gauge
rekey_last_successful_rotation_timestamp_seconds{secret="db-password"} 1.7000001e+09
`
	if err := testutil.ScrapeAndCompare(srv.URL+"/metrics", strings.NewReader(want),
		"rekey_build_info", "rekey_drift", "rekey_applied_revision_info",
		"rekey_applied_revision_timestamp_seconds", "rekey_pending_revocations", "rekey_pending_revocation",
		"rekey_rotations_total", "rekey_last_successful_rotation_timestamp_seconds"); err != nil {
		t.Error(err)
	}
}

func TestGoAndProcessCollectors(t *testing.T) {
	m, _ := newTest(t)
	_, fams := scrape(t, m)
	for _, name := range []string{"go_goroutines", "go_info", "go_memstats_alloc_bytes"} {
		if fams[name] == nil {
			t.Errorf("%s missing from the scrape", name)
		}
	}
	if runtime.GOOS == "linux" {
		for _, name := range []string{"process_start_time_seconds", "process_open_fds"} {
			if fams[name] == nil {
				t.Errorf("%s missing from the scrape", name)
			}
		}
	}
}

// Metrics uses a registry of its own: the default registry's series do not show, and two instances
// do not collide.
func TestOwnRegistry(t *testing.T) {
	stray := prometheus.NewCounter(prometheus.CounterOpts{Name: "stray_library_metric_total", Help: "x"})
	prometheus.MustRegister(stray)
	t.Cleanup(func() { prometheus.Unregister(stray) })

	m1, _ := newTest(t)
	m2, _ := newTest(t)
	m1.ObserveRotation("only-in-m1", "rotated", time.Time{})
	body, _ := scrape(t, m2)
	for _, s := range []string{"stray_library_metric_total", "only-in-m1"} {
		if strings.Contains(body, s) {
			t.Errorf("scrape of m2 contains %q", s)
		}
	}
}

func TestDefaultBuildInfo(t *testing.T) {
	m := New()
	got := samples(t, m, "rekey_build_info")
	if len(got) != 1 || !strings.HasSuffix(got[0], " 1") || strings.Contains(got[0], `=""`) {
		t.Errorf("rekey_build_info = %q, want one series with non-empty labels", got)
	}
}

// Invalid UTF-8 in a name must neither panic (client_golang would) nor break the scrape with
// duplicate series.
func TestInvalidUTF8Names(t *testing.T) {
	m, _ := newTest(t)
	m.ObserveRotation("bad\xff", "rotated", time.Time{})
	m.SetDrift([]DriftEntry{
		{Secret: "bad\xff", Place: "app", State: "in-sync"},
		{Secret: "bad\xfe", Place: "app", State: "stale-consumer"}, // the same name once made valid
	})
	m.SetPendingRevocations([]string{"x\xff", "x\xfe"})
	m.SetRevision("rev\xff", time.Time{})
	_, fams := scrape(t, m)
	if n := len(fams["rekey_drift"].GetMetric()); n != 1 {
		t.Errorf("rekey_drift has %d series, want 1", n)
	}
	expectSamples(t, m, "rekey_pending_revocations", "rekey_pending_revocations 1")
}

// Labels carry names only. A realistic run, including caller mistakes that pass error text (which can
// quote a value) where a closed-set word belongs, never exports the value.
func TestNoSecretValueInScrape(t *testing.T) {
	const value = "s3cr3t-Zq9kPvL0ngR4nd0mValue"
	m, c := newTest(t)

	m.SetRevision("9f2c1e0d9f2c1e0d9f2c1e0d9f2c1e0d9f2c1e0d", time.Time{})
	m.ObserveRotation("db-password", "rotated", time.Time{})
	m.ObserveRotation("db-password", "verification of "+value+" failed", time.Time{})
	m.ObserveReconcile(3*time.Second, "ok")
	m.ObserveReconcile(time.Second, "error: "+value)
	m.SetDrift([]DriftEntry{
		{Secret: "db-password", Place: "app", State: "in-sync"},
		{Secret: "db-password", Place: "source:/srv/app/.env:DB_PASSWORD", State: "value " + value},
	})
	m.ObserveDriftScan(40 * time.Millisecond)
	m.SetPendingRevocations([]string{"db-password"})
	m.AddAlerts("sent", 1)
	m.AddAlerts("failed: "+value, 1)
	m.SetReady(false, "last reconcile failed: remote unreachable")
	m.Beat()
	c.Advance(time.Hour) // healthz fails and says why

	body, _ := scrape(t, m)
	if strings.Contains(body, value) {
		t.Errorf("/metrics contains the secret value")
	}
	if !strings.Contains(body, `outcome="other"`) || !strings.Contains(body, `state="unknown"`) {
		t.Errorf("free text was not folded into other/unknown:\n%s", body)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if strings.Contains(rec.Body.String(), value) {
			t.Errorf("%s contains the secret value", path)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	m, c := newTest(t)
	h := m.Handler()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 100 {
				s := fmt.Sprintf("secret-%d", j%5)
				m.ObserveRotation(s, "rotated", time.Time{})
				m.ObserveReconcile(time.Millisecond, "ok")
				m.SetDrift([]DriftEntry{{Secret: s, Place: "app", State: "in-sync"}})
				m.SetRevision(fmt.Sprint(i, j), time.Time{})
				m.SetPendingRevocations([]string{s})
				m.AddAlerts("sent", 1)
				m.ObserveDriftScan(time.Millisecond)
				m.Beat()
				m.SetReady(j%2 == 0, "flapping")
				c.Advance(time.Second)
			}
		})
		wg.Go(func() {
			for _, p := range []string{"/metrics", "/healthz", "/readyz"} {
				for range 20 {
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
					if p == "/metrics" && rec.Code != http.StatusOK {
						t.Errorf("GET /metrics = %d", rec.Code)
					}
				}
			}
		})
	}
	wg.Wait()
}

func TestNilMetricsIsANoOp(t *testing.T) {
	var m *Metrics
	m.ObserveRotation("s", "rotated", time.Time{})
	m.ObserveReconcile(time.Second, "ok")
	m.ObserveDriftScan(time.Second)
	m.SetDrift([]DriftEntry{{Secret: "s", Place: "p", State: "in-sync"}})
	m.SetRevision("r", time.Time{})
	m.SetPendingRevocations([]string{"s"})
	m.AddAlerts("sent", 1)
	m.Beat()
	m.SetReady(true, "")
}

// The names, help texts and types follow the Prometheus conventions (promlint).
func TestLint(t *testing.T) {
	m, _ := newTest(t)
	m.ObserveRotation("s", "rotated", time.Time{})
	m.SetDrift([]DriftEntry{{Secret: "s", Place: "p", State: "in-sync"}})
	m.SetRevision("r", time.Time{})
	m.SetPendingRevocations([]string{"s"})
	problems, err := testutil.GatherAndLint(m.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "rekey_") {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
}
