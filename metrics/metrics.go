// Package metrics exposes the rekey agent's Prometheus metrics and its health endpoints.
//
// Everything lives in a registry of its own, never in prometheus.DefaultRegisterer: a library that
// registers in the default registry cannot slip series into rekey's scrape, and every Metrics value
// (one per test, say) is independent. The registry also holds the standard Go and process collectors.
//
// Series:
//
//	rekey_build_info{version,commit}                              gauge, always 1
//	rekey_rotations_total{secret,outcome}                         counter
//	rekey_last_successful_rotation_timestamp_seconds{secret}      gauge, unix seconds
//	rekey_drift{secret,place,state}                               gauge, 1 for the current state only
//	rekey_drift_scan_duration_seconds                             histogram
//	rekey_reconcile_duration_seconds{result}                      histogram
//	rekey_reconciles_total{result}                                counter
//	rekey_last_successful_reconcile_timestamp_seconds             gauge, unix seconds
//	rekey_applied_revision_info{revision}                         gauge, 1 for the applied revision only
//	rekey_applied_revision_timestamp_seconds                      gauge, unix seconds
//	rekey_pending_revocations                                     gauge, count
//	rekey_pending_revocation{secret}                              gauge, 1 per secret
//	rekey_alerts_total{result}                                    counter
//
// No series ever carries a secret value. The free-form labels are names the operator chose (secret,
// consumer, source file and key) and the git revision; every other label comes from a closed set
// (outcome, state, result), and a string outside its set is reported as "other" (drift states as
// "unknown"). So a caller that passes an error message where an outcome belongs, the one way text of
// unknown origin could reach a label, exports a fixed word instead of that text, and the closed sets
// also keep the number of series bounded.
//
// All methods are safe for concurrent use, and the methods that record something are no-ops on a nil
// *Metrics, so the agent can run without metrics and without checking.
package metrics

import (
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rekeyhq/rekey/internal/exposure"
)

// DefaultLiveness is how long /healthz waits for a Beat before it fails: three times the agent's
// default one-minute interval, so one slow run does not get the process restarted.
const DefaultLiveness = 3 * time.Minute

// DriftEntry is the current drift state of one place a secret lives in.
type DriftEntry struct {
	Secret string // secret name
	Place  string // consumer name, or a source such as "source:/srv/app/.env:API_KEY"
	State  string // in-sync, source-edited, stale-consumer, server-mismatch or unknown
}

// Closed label sets. Anything else becomes other (unknownState for drift).
var (
	outcomes = set("rotated", "verified", "finalized", "rolled-back", "recovered", "refused", "held",
		"failed", "finalize-failed", "superseded")
	// Outcomes that mean "nothing happened": counting them would turn the counter into a count of
	// reconciles times secrets and bury the real events.
	noOpOutcomes = set("in-sync", "waiting")
	// Outcomes after which the new value is live everywhere. finalized only drops the previous value of
	// a rotation already counted as verified, so it does not move the timestamp again.
	successOutcomes = set("rotated", "verified")
	results         = []string{"ok", "error", "refused"}
	resultSet       = set(results...)
	alertResults    = []string{"sent", "failed", "dropped"}
	alertSet        = set(alertResults...)
	driftStates     = set("in-sync", "pending", "source-edited", "stale-consumer", "server-mismatch", unknownState)
)

const (
	other        = "other"
	unknownState = "unknown"
)

// Buckets: a reconcile may roll containers and wait for verification (minutes); a drift scan reads
// files and asks the engine (sub-second to seconds).
var (
	reconcileBuckets = []float64{.1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200}
	scanBuckets      = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
)

// Metrics holds the agent's metrics and health state.
type Metrics struct {
	reg      *prometheus.Registry
	now      func() time.Time
	liveness time.Duration
	version  string
	commit   string

	rotations     *prometheus.CounterVec
	lastRotation  *prometheus.GaugeVec
	reconcileDur  *prometheus.HistogramVec
	reconciles    *prometheus.CounterVec
	lastReconcile prometheus.Gauge
	driftScan     prometheus.Histogram
	alerts        *prometheus.CounterVec

	// Vectors replaced as a whole by a single call.
	drift    *snapshot
	revision *snapshot
	pending  *snapshot

	metricsHandler http.Handler
	health         health
	auth           *exposure.BasicAuth // nil: no authentication (loopback only, see Serve)
}

// Option configures Metrics.
type Option func(*Metrics)

// WithLiveness sets how long /healthz tolerates no Beat (default DefaultLiveness; give it about three
// agent intervals). A non-positive d keeps the default.
func WithLiveness(d time.Duration) Option {
	return func(m *Metrics) {
		if d > 0 {
			m.liveness = d
		}
	}
}

// WithClock replaces time.Now, for tests. A nil now keeps time.Now.
func WithClock(now func() time.Time) Option {
	return func(m *Metrics) {
		if now != nil {
			m.now = now
		}
	}
}

// WithBuildInfo sets the labels of rekey_build_info (default: read from the binary's build info,
// "unknown" when absent).
func WithBuildInfo(version, commit string) Option {
	return func(m *Metrics) { m.version, m.commit = version, commit }
}

// WithBasicAuth requires HTTP basic authentication with this user name and password on every path
// (Prometheus: basic_auth in the scrape config). It is what lets Serve listen on an address other hosts
// reach: the metrics name every secret. An empty password lets nobody in. Basic auth sends the password
// in clear: over anything but loopback, put TLS in front.
func WithBasicAuth(user, password string) Option {
	return func(m *Metrics) { m.auth = exposure.NewBasicAuth(user, password) }
}

// New returns Metrics with every collector registered in a fresh registry.
func New(opts ...Option) *Metrics {
	m := &Metrics{now: time.Now, liveness: DefaultLiveness}
	m.version, m.commit = buildInfo()
	for _, o := range opts {
		o(m)
	}
	m.reg = prometheus.NewRegistry()

	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "rekey_build_info",
		Help: "Always 1; the labels say which rekey is running.",
		ConstLabels: prometheus.Labels{
			"version": orUnknown(label(m.version)),
			"commit":  orUnknown(label(m.commit)),
		},
	})
	buildInfo.Set(1)
	m.rotations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rekey_rotations_total",
		Help: "Rotation events per secret and outcome.",
	}, []string{"secret", "outcome"})
	m.lastRotation = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "rekey_last_successful_rotation_timestamp_seconds",
		Help: "When a new value of the secret last went live (outcome rotated or verified), unix seconds.",
	}, []string{"secret"})
	m.reconcileDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "rekey_reconcile_duration_seconds",
		Help:    "Duration of reconcile runs by result.",
		Buckets: reconcileBuckets,
	}, []string{"result"})
	m.reconciles = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rekey_reconciles_total",
		Help: "Reconcile runs by result (ok, error, refused).",
	}, []string{"result"})
	m.lastReconcile = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "rekey_last_successful_reconcile_timestamp_seconds",
		Help: "When a reconcile run last ended ok, unix seconds.",
	})
	m.driftScan = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "rekey_drift_scan_duration_seconds",
		Help:    "Duration of drift scans.",
		Buckets: scanBuckets,
	})
	m.alerts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rekey_alerts_total",
		Help: "Alert notifications by result (sent, failed, dropped).",
	}, []string{"result"})
	m.drift = newSnapshot(prometheus.NewDesc("rekey_drift",
		"1 for the current drift state of each place a secret lives in; other states are absent.",
		[]string{"secret", "place", "state"}, nil))
	m.revision = newSnapshot(
		prometheus.NewDesc("rekey_applied_revision_info",
			"1 for the git revision the agent last applied.", []string{"revision"}, nil),
		prometheus.NewDesc("rekey_applied_revision_timestamp_seconds",
			"When the applied revision was applied, unix seconds.", nil, nil))
	m.pending = newSnapshot(
		prometheus.NewDesc("rekey_pending_revocations",
			"Number of secrets whose previous value still waits to be revoked.", nil, nil),
		prometheus.NewDesc("rekey_pending_revocation",
			"1 for each secret whose previous value still waits to be revoked.", []string{"secret"}, nil))
	m.SetPendingRevocations(nil) // the count is 0, not absent, before the first report

	// Pre-create the series of the closed sets so that rate() and increase() see the first event.
	for _, r := range results {
		m.reconciles.WithLabelValues(r)
		m.reconcileDur.WithLabelValues(r)
	}
	for _, r := range alertResults {
		m.alerts.WithLabelValues(r)
	}

	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo, m.rotations, m.lastRotation, m.reconcileDur, m.reconciles, m.lastReconcile,
		m.driftScan, m.alerts, m.drift, m.revision, m.pending,
	)
	// ContinueOnError: one failing collector (the process collector on an odd platform) must not blank
	// the whole scrape; failures are counted in promhttp_metric_handler_errors_total.
	m.metricsHandler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		Registry:            m.reg,
		MaxRequestsInFlight: 4,
	})
	m.health.beat = m.now() // the loop gets one full window to start
	m.health.reason = "first reconcile not finished"
	return m
}

// ObserveRotation counts one rotation event of a secret. Outcomes rotated and verified also set the
// secret's last successful rotation time to at (now when at is zero). The no-op outcomes in-sync and
// waiting are ignored; an outcome outside the known set is counted as "other".
func (m *Metrics) ObserveRotation(secret, outcome string, at time.Time) {
	if m == nil || noOpOutcomes[outcome] {
		return
	}
	secret = label(secret)
	m.rotations.WithLabelValues(secret, closed(outcomes, outcome)).Inc()
	if successOutcomes[outcome] {
		m.lastRotation.WithLabelValues(secret).Set(unix(m.at(at)))
	}
}

// ObserveReconcile records one reconcile run that took d and ended with result ok, error or refused
// (anything else is recorded as "other"). An ok run also sets the last successful reconcile time.
func (m *Metrics) ObserveReconcile(d time.Duration, result string) {
	if m == nil {
		return
	}
	r := closed(resultSet, result)
	m.reconcileDur.WithLabelValues(r).Observe(d.Seconds())
	m.reconciles.WithLabelValues(r).Inc()
	if r == "ok" {
		m.lastReconcile.Set(unix(m.now()))
	}
}

// ObserveDriftScan records one drift scan that took d.
func (m *Metrics) ObserveDriftScan(d time.Duration) {
	if m == nil {
		return
	}
	m.driftScan.Observe(d.Seconds())
}

// SetDrift replaces the whole drift vector with entries: places that are not in entries disappear, and
// each secret/place shows exactly one state (the last entry wins if one is given twice). A state
// outside the known set is reported as "unknown".
func (m *Metrics) SetDrift(entries []DriftEntry) {
	if m == nil {
		return
	}
	type key struct{ secret, place string }
	state := make(map[key]string, len(entries))
	order := make([]key, 0, len(entries))
	for _, e := range entries {
		// Normalise before deduplicating: two names that only differ in invalid bytes would
		// otherwise become two identical series, and a scrape with duplicates fails.
		k := key{label(e.Secret), label(e.Place)}
		if _, seen := state[k]; !seen {
			order = append(order, k)
		}
		s := e.State
		if !driftStates[s] {
			s = unknownState
		}
		state[k] = s
	}
	ms := make([]prometheus.Metric, 0, len(order))
	for _, k := range order {
		ms = append(ms, m.drift.gauge(0, 1, k.secret, k.place, state[k]))
	}
	m.drift.set(ms)
}

// SetRevision records the git revision the agent applied and when (now when at is zero). The previous
// revision's series goes away; an empty rev removes both series.
func (m *Metrics) SetRevision(rev string, at time.Time) {
	if m == nil {
		return
	}
	if rev == "" {
		m.revision.set(nil)
		return
	}
	m.revision.set([]prometheus.Metric{
		m.revision.gauge(0, 1, label(rev)),
		m.revision.gauge(1, unix(m.at(at))),
	})
}

// SetPendingRevocations replaces the set of secrets whose previous value still waits to be revoked.
func (m *Metrics) SetPendingRevocations(secrets []string) {
	if m == nil {
		return
	}
	seen := make(map[string]bool, len(secrets))
	ms := []prometheus.Metric{nil} // the count goes first, once it is known
	for _, s := range secrets {
		s = label(s)
		if seen[s] {
			continue
		}
		seen[s] = true
		ms = append(ms, m.pending.gauge(1, 1, s))
	}
	ms[0] = m.pending.gauge(0, float64(len(seen)))
	m.pending.set(ms)
}

// AddAlerts adds n alert notifications with result sent, failed or dropped (anything else is counted
// as "other"). A non-positive n is ignored: a counter never goes down.
func (m *Metrics) AddAlerts(result string, n int) {
	if m == nil || n <= 0 {
		return
	}
	m.alerts.WithLabelValues(closed(alertSet, result)).Add(float64(n))
}

func (m *Metrics) at(t time.Time) time.Time {
	if t.IsZero() {
		return m.now()
	}
	return t
}

// snapshot is a collector whose series are replaced all at once. A GaugeVec reset and then refilled
// would let a scrape that lands in between see a partial vector (places without a state, no revision
// at all); swapping a prepared slice never shows a half-written one.
type snapshot struct {
	descs []*prometheus.Desc

	mu      sync.Mutex
	metrics []prometheus.Metric // replaced, never modified in place
}

func newSnapshot(descs ...*prometheus.Desc) *snapshot { return &snapshot{descs: descs} }

func (s *snapshot) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range s.descs {
		ch <- d
	}
}

func (s *snapshot) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	ms := s.metrics
	s.mu.Unlock()
	for _, m := range ms {
		ch <- m
	}
}

func (s *snapshot) set(ms []prometheus.Metric) {
	s.mu.Lock()
	s.metrics = ms
	s.mu.Unlock()
}

// gauge builds a gauge of the desc at index i. Label values are already valid UTF-8 (label) and their
// number is fixed by the callers, so an error here is a bug in this package.
func (s *snapshot) gauge(i int, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(s.descs[i], prometheus.GaugeValue, v, labels...)
}

// label makes s usable as a label value: client_golang panics on invalid UTF-8, and a metrics call
// must never bring the agent down.
func label(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func closed(allowed map[string]bool, s string) string {
	if allowed[s] {
		return s
	}
	return other
}

func set(ss ...string) map[string]bool {
	m := make(map[string]bool, len(ss))
	for _, s := range ss {
		m[s] = true
	}
	return m
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// buildInfo reads the module version and VCS revision that the go command stamped into the binary.
func buildInfo() (version, commit string) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "", ""
	}
	version = bi.Main.Version
	if version == "(devel)" {
		version = ""
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			commit = s.Value
		}
	}
	return version, commit
}
