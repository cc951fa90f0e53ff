package agent

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rekeyhq/rekey/app"
	"github.com/rekeyhq/rekey/dockerio"
	"github.com/rekeyhq/rekey/gitsync"
	"github.com/rekeyhq/rekey/live"
	"github.com/rekeyhq/rekey/metrics"
	"github.com/rekeyhq/rekey/notify"
	"github.com/rekeyhq/rekey/reconcile"
)

// transientAlertAfter is how many consecutive transient failures (remote or engine unreachable) raise an
// alert; fewer are routine and only logged.
const transientAlertAfter = 3

// Monitor is the agent's memory between runs: the last desired state (for drift scans), what was
// reported (so that logs and alerts fire on change only), the notifier and the metrics.
type Monitor struct {
	o       app.Options
	log     *slog.Logger
	met     *metrics.Metrics
	host    string
	version string

	a     *Agent
	files *FileWatcher // nil when files cannot be watched

	mu        sync.Mutex
	s         *app.Session
	eng       *dockerio.Engine
	notifier  *notify.Notifier
	urlsKey   [32]byte
	drift     map[string]reconcile.Drift // last scan, by place key
	records   live.Records               // the journal as of the last scan (for the status page)
	last      lastReconcile
	transient int
	counted   [3]uint64 // alerts sent, failed, dropped already added to the metrics
	events    bool      // the engine event stream is being followed
	// servers remembers the credential servers' verdicts: scans run on every file change, and a login
	// to each server once per ServerCheckEvery is enough.
	servers *live.ServerVerdicts
}

// ServerCheckEvery is how often the agent's drift scans log in to each credential server at most.
const ServerCheckEvery = 10 * time.Minute

// NewMonitor returns the monitor of an agent reading o; host names this machine in alerts and version
// is rekey's, for the status page.
func NewMonitor(o app.Options, log *slog.Logger, met *metrics.Metrics, host, version string) *Monitor {
	n, _ := notify.New(nil) // no URLs until a desired state names some: tracks incidents only
	return &Monitor{o: o, log: log, met: met, host: host, version: version, notifier: n, drift: map[string]reconcile.Drift{},
		servers: live.NewServerVerdicts(ServerCheckEvery)}
}

// Attach makes the monitor trigger a on drift that heals and on container events, and rescan on fw's
// file changes (fw may be nil: files are not watched).
func (m *Monitor) Attach(a *Agent, fw *FileWatcher) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.a, m.files = a, fw
}

// redact hides every value the last desired state knows of.
func (m *Monitor) redact(s string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.redactLocked(s)
}

func (m *Monitor) redactLocked(s string) string {
	if m.s == nil {
		return s
	}
	return m.s.Redact.String(s)
}

// engine returns the Docker client the scans share.
func (m *Monitor) engine(ctx context.Context) (*dockerio.Engine, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.eng != nil {
		return m.eng, nil
	}
	host := ""
	if m.s != nil {
		host = m.s.DockerHost()
	}
	eng, err := dockerio.New(ctx, dockerio.WithHost(host), dockerio.WithRedactor(m.redact))
	if err != nil {
		return nil, err
	}
	m.eng = eng
	return eng, nil
}

// loaded takes the desired state of a reconcile: scans compare against it, its files are watched, and its
// alert URLs are used.
func (m *Monitor) loaded(ctx context.Context, s *app.Session) {
	m.mu.Lock()
	m.s = s
	m.mu.Unlock()
	if m.files != nil {
		if err := m.files.Set(watchedFiles(s.Desired)); err != nil {
			m.log.Warn("not watching the stack's files; drift is found by the interval scan", "error", err)
		}
	}
	m.setNotifier(s)
	m.followEvents(ctx, s.Project.Name())
}

func watchedFiles(d reconcile.Desired) []string {
	var out []string
	for _, sec := range d.Secrets {
		for _, l := range append(append([]reconcile.Location{}, sec.Current...), sec.Previous...) {
			if !slices.Contains(out, l.Path) {
				out = append(out, l.Path)
			}
		}
	}
	return out
}

// setNotifier (re)creates the notifier when the alert URLs change. Incidents open on the old one are
// carried over so that a URL change does not alert twice.
func (m *Monitor) setNotifier(s *app.Session) {
	var urls []string
	for _, name := range s.Config.Alerts.URLs {
		u, ok := s.Value(name)
		if !ok {
			m.log.Warn("alerts.urls names an entry the values file does not have; no alerts go there", "entry", name)
			continue
		}
		urls = append(urls, u)
	}
	key := sha256.Sum256([]byte(strings.Join(urls, "\x00")))
	m.mu.Lock()
	same := key == m.urlsKey
	m.mu.Unlock()
	if same {
		return
	}
	n, err := notify.New(urls, notify.WithLogger(m.log), notify.WithRedactor(s.Redact.String), notify.WithHostname(m.host))
	if err != nil {
		m.log.Warn("alert URLs are invalid; alerts are not sent", "error", s.Redact.String(err.Error()))
		return
	}
	m.mu.Lock()
	old := m.notifier
	m.notifier, m.urlsKey, m.counted = n, key, [3]uint64{}
	m.mu.Unlock()
	for _, inc := range old.Active() {
		n.Raise(inc) // sent again only through the new URLs, which have not seen it
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = old.Close(ctx)
	}()
}

// followEvents rescans when a container of the project starts or dies (a hand `docker compose up`, a
// crash loop), reconnecting to the engine's event stream when it drops.
func (m *Monitor) followEvents(ctx context.Context, project string) {
	m.mu.Lock()
	if m.events || m.a == nil {
		m.mu.Unlock()
		return
	}
	m.events = true
	m.mu.Unlock()
	go func() {
		for ctx.Err() == nil {
			eng, err := m.engine(ctx)
			if err == nil {
				err = eng.ContainerEvents(ctx, project, func(service, action string) {
					m.a.TriggerScan("container " + service + " " + action)
				})
			}
			if err != nil {
				m.log.Warn("not following engine events; retrying in 10s", "error", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Second):
			}
		}
	}()
}

// Scan implements agent.Scanner: compare what is live with the last desired state.
func (m *Monitor) Scan(ctx context.Context, reason string) error {
	m.met.Beat()
	m.mu.Lock()
	s := m.s
	m.mu.Unlock()
	if s == nil {
		return nil // no reconcile has loaded a desired state yet
	}
	eng, err := m.engine(ctx)
	if err != nil {
		return err
	}
	recs, err := app.JournalRecords(m.o.StateDir)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.records = recs
	m.mu.Unlock()
	start := time.Now()
	ds, err := s.ScanDrift(ctx, eng, recs, m.servers)
	m.met.ObserveDriftScan(time.Since(start))
	if err != nil {
		return err
	}
	m.report(s, ds)
	return nil
}

// report logs, alerts and exports what changed since the last scan, and asks for a reconcile when a
// secret that heals has drifted.
func (m *Monitor) report(s *app.Session, ds []reconcile.Drift) {
	var incidents []notify.Incident
	heal := map[string]bool{}
	now := map[string]reconcile.Drift{}
	worst := map[metrics.DriftEntry]reconcile.DriftState{} // per place, replicas folded (State unset)
	before := placeStates(m.drift)
	open := map[string]notify.Incident{}
	for _, inc := range m.notify().Active() {
		open[inc.Key] = inc
	}
	for _, d := range ds {
		now[d.Key()] = d
		if prev, seen := m.drift[d.Key()]; !seen || prev.State != d.State {
			m.logDrift(d, prev.State)
		}
		place := metrics.DriftEntry{Secret: d.Secret, Place: d.Place + ":" + d.Name}
		worst[place] = worse(worst[place], d.State)
		switch {
		case d.State.Drifted():
			incidents = append(incidents, driftIncident(s, d))
		case d.State == reconcile.DriftUnknown && d.Place == reconcile.PlaceServer:
			// A server that refused Git's value and cannot be reached now has not recovered: its
			// incident stays open, without a new alert, until a login says otherwise.
			if inc, ok := open["drift/"+d.Key()]; ok {
				incidents = append(incidents, inc)
			}
		}
	}
	var entries []metrics.DriftEntry
	for place, st := range worst {
		entries = append(entries, metrics.DriftEntry{Secret: place.Secret, Place: place.Place, State: string(st)})
		// Only new drift asks for a heal, judged per place (a recreated container has a new id): a heal
		// that could not fix it (held after a rollback) must not turn every scan into another reconcile.
		// A server's mismatch is not healed by a reconcile: the rotation's check refuses to start from it.
		server := strings.HasPrefix(place.Place, reconcile.PlaceServer+":")
		if st.Drifted() && before[place] != st && s.Config.Heals(place.Secret) && !server {
			heal[place.Secret] = true
		}
	}
	for k, prev := range m.drift {
		if _, ok := now[k]; !ok && prev.State.Drifted() {
			m.log.Info("drift resolved", "secret", prev.Secret, "place", prev.Place, "name", prev.Name, "was", prev.State)
		}
	}
	m.mu.Lock()
	m.drift = now
	m.mu.Unlock()
	m.met.SetDrift(entries)
	m.notify().Sync(notify.KindDrift, incidents)
	m.countAlerts()
	for _, name := range slices.Sorted(maps.Keys(heal)) {
		if m.a != nil {
			m.a.Trigger("heal drift of " + name)
		}
	}
}

// placeStates folds a scan's states per place, replicas together, worst first.
func placeStates(ds map[string]reconcile.Drift) map[metrics.DriftEntry]reconcile.DriftState {
	out := map[metrics.DriftEntry]reconcile.DriftState{}
	for _, d := range ds {
		place := metrics.DriftEntry{Secret: d.Secret, Place: d.Place + ":" + d.Name}
		out[place] = worse(out[place], d.State)
	}
	return out
}

// severity orders states for folding replicas: one stale replica makes the service stale.
var severity = map[reconcile.DriftState]int{
	reconcile.DriftInSync: 1, reconcile.DriftPending: 2, reconcile.DriftUnknown: 3,
	reconcile.DriftSourceEdited: 4, reconcile.DriftStaleConsumer: 5, reconcile.DriftServerMismatch: 6,
}

func worse(a, b reconcile.DriftState) reconcile.DriftState {
	if severity[b] > severity[a] {
		return b
	}
	return a
}

func (m *Monitor) logDrift(d reconcile.Drift, was reconcile.DriftState) {
	attrs := []any{"secret", d.Secret, "place", d.Place, "name", d.Name, "state", d.State}
	if d.Container != "" {
		attrs = append(attrs, "container", d.Container)
	}
	if !d.Since.IsZero() {
		attrs = append(attrs, "since", d.Since.UTC().Format(time.RFC3339))
	}
	if d.Reason != "" {
		attrs = append(attrs, "reason", d.Reason)
	}
	switch {
	case d.State.Drifted() || d.State == reconcile.DriftUnknown:
		m.log.Warn("drift", attrs...)
	case was.Drifted():
		m.log.Info("drift resolved", attrs...)
	}
}

func driftIncident(s *app.Session, d reconcile.Drift) notify.Incident {
	consumer := ""
	switch d.Place {
	case reconcile.PlaceServer:
		consumer = "server " + d.Name
	case reconcile.PlaceConsumer:
		consumer = d.Name
		if d.Container != "" {
			consumer += " (" + d.Container + ")"
		}
	}
	reason := d.Reason
	if d.Place == reconcile.PlaceSource {
		reason = d.Name + ": " + reason
	}
	// The commit goes in the reason, not in Commit: a new commit must not re-alert a drift that did not
	// change (the notifier alerts again when State or Commit changes).
	reason += " (desired state at " + gitsync.Short(s.Commit.Hash) + ")"
	return notify.Incident{Key: "drift/" + d.Key(), Kind: notify.KindDrift, Secret: d.Secret, Consumer: consumer,
		State: string(d.State), Reason: reason}
}

// reconciled reports one reconcile: metrics, and alerts for failed rotations, refused commits and
// repeated transient failures (each cleared when it stops).
func (m *Monitor) reconciled(s *app.Session, results []reconcile.Result, err error, took time.Duration) {
	m.met.Beat()
	commit := ""
	if s != nil {
		commit = gitsync.Short(s.Commit.Hash)
	}
	var pending []string
	srv := servers(s)
	for _, r := range results {
		if r.Txn != "" { // a transaction ran: count it (held, refused and drift repeat at every reconcile)
			m.met.ObserveRotation(r.Secret, string(r.Outcome), time.Time{})
		}
		key := "rotation/" + r.Secret
		switch r.Outcome {
		case reconcile.OutcomeRolledBack, reconcile.OutcomeFailed, reconcile.OutcomeFinalizeFailed, reconcile.OutcomeBlocked:
			m.notify().Raise(notify.Incident{Key: key, Kind: notify.KindRotation, Secret: r.Secret,
				State: string(r.Outcome), Commit: commit, Reason: rotationReason(r, srv[r.Secret], m.redact)})
		case reconcile.OutcomeRefused:
			m.notify().Raise(notify.Incident{Key: "refused/" + r.Secret, Kind: notify.KindRefused, Secret: r.Secret,
				State: "refused", Commit: commit, Reason: r.Note})
		case reconcile.OutcomeHeld, reconcile.OutcomeDrift, reconcile.OutcomeDeferred:
			// held continues a rolled-back incident; drift is the scan's to report; deferred waits for an
			// undeclared secret's transaction, which alerts on its own
		case reconcile.OutcomePending:
			// the old value still logs in at a provider rekey cannot drive: the operator must revoke it
		case reconcile.OutcomeRevokedSeen:
			m.notify().Clear("revocation/" + r.Secret)
		default:
			m.notify().Clear(key)
			m.notify().Clear("refused/" + r.Secret)
		}
		if r.Outcome == reconcile.OutcomeVerified || r.Outcome == reconcile.OutcomeWaiting {
			pending = append(pending, r.Secret) // the old value is still accepted until finalize
		}
		if r.Outcome == reconcile.OutcomePending || r.Pending != "" {
			pending = append(pending, r.Secret)
			m.notify().Raise(notify.Incident{Key: "revocation/" + r.Secret, Kind: notify.KindRevocation, Secret: r.Secret,
				State: "pending", Commit: commit, Reason: "the old value still logs in at the provider: revoke it there; rekey checks at every reconcile"})
		}
	}
	m.met.SetPendingRevocations(pending)
	m.reconcileHealth(s, err, took)
	m.countAlerts()
}

func (m *Monitor) reconcileHealth(s *app.Session, err error, took time.Duration) {
	var ref *app.RefusedError
	refused := errors.As(err, &ref)
	result := "ok"
	switch {
	case refused:
		result = "refused"
		m.notify().Raise(notify.Incident{Key: "refused/commit", Kind: notify.KindRefused, State: "refused",
			Reason: m.redact(err.Error())})
	case err != nil:
		result = "error"
	default:
		m.notify().Clear("refused/commit")
	}
	m.met.ObserveReconcile(took, result)
	m.mu.Lock()
	m.last = lastReconcile{at: time.Now(), result: result}
	if err != nil {
		m.last.err = m.redactLocked(err.Error())
	}
	m.mu.Unlock()
	if app.IsTransient(err) {
		m.transient++
		if m.transient >= transientAlertAfter {
			m.notify().Raise(notify.Incident{Key: "transient/reconcile", Kind: notify.KindTransient, State: "failing",
				Reason: fmt.Sprintf("%d reconciles in a row failed: %s", m.transient, m.redact(err.Error()))})
		}
	} else {
		m.transient = 0
		m.notify().Clear("transient/reconcile")
	}
	if err != nil {
		m.met.SetReady(false, "last reconcile failed: "+m.redact(err.Error()))
		return
	}
	m.met.SetReady(true, "")
	if s != nil {
		m.met.SetRevision(s.Commit.Hash, time.Now())
	}
}

func (m *Monitor) notify() *notify.Notifier {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.notifier
}

// countAlerts moves the notifier's counters into the metrics.
func (m *Monitor) countAlerts() {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := [3]uint64{m.notifier.Sent(), m.notifier.Failed(), m.notifier.Dropped()}
	for i, result := range []string{"sent", "failed", "dropped"} {
		m.met.AddAlerts(result, int(now[i]-m.counted[i]))
	}
	m.counted = now
}

// Close delivers the alerts still queued (for a while) and releases the engine client.
func (m *Monitor) Close() {
	m.mu.Lock()
	n, eng := m.notifier, m.eng
	m.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		m.log.Warn("alerts not delivered before exit", "error", err)
	}
	eng.Close()
}
