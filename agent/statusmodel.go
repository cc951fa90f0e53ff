package agent

import (
	"context"
	"time"

	"github.com/rekeyhq/rekey/gitsync"
	"github.com/rekeyhq/rekey/reconcile"
	"github.com/rekeyhq/rekey/statuspage"
)

// lastReconcile is how the agent's last reconcile went, for the status page.
type lastReconcile struct {
	at     time.Time
	result string
	err    string // redacted
}

// Status implements statuspage.Source from a snapshot of what the monitor keeps: it reads nothing live
// and never takes the journal's lock (a rotation may hold it for minutes).
func (m *Monitor) Status(_ context.Context) (statuspage.Model, error) {
	m.mu.Lock()
	s, drift, recs, last, n := m.s, m.drift, m.records, m.last, m.notifier
	m.mu.Unlock()
	out := statuspage.Model{Generated: time.Now(), Version: m.version, Repo: m.o.Repo, Ref: m.o.Ref,
		LastReconcile: statuspage.Reconcile{Time: last.at, Result: last.result, Error: last.err}}
	for _, inc := range n.Active() {
		out.Alerts = append(out.Alerts, statuspage.Alert{Key: inc.Key, State: inc.State, Reason: m.redact(inc.Reason), Since: inc.Time})
	}
	if s == nil {
		return out, nil // no reconcile has loaded a desired state yet
	}
	out.Project = s.Project.Name()
	out.Commit = statuspage.Commit{Hash: s.Commit.Hash, Subject: gitsync.Subject(s.Commit.Message), Time: s.Commit.Committer.When}
	byPlace := map[[3]string][]reconcile.Drift{}
	for _, d := range drift {
		k := [3]string{d.Secret, d.Place, d.Name}
		byPlace[k] = append(byPlace[k], d)
	}
	for _, sec := range s.Desired.Secrets {
		out.Secrets = append(out.Secrets, secretStatusModel(sec, recs[sec.Name], byPlace, s.Redact.String, out.Generated))
	}
	return out, nil
}

func secretStatusModel(sec reconcile.Secret, recs []reconcile.Record, byPlace map[[3]string][]reconcile.Drift,
	redact func(string) string, now time.Time) statuspage.Secret {
	out := statuspage.Secret{Name: sec.Name, Kind: sec.Kind, Fingerprint: reconcile.LastApplied(recs)}
	if srv := sec.Server; srv != nil {
		out.Server = srv.Name + ": " + srv.Mechanism
	}
	for i := len(recs) - 1; i >= 0; i-- {
		if r := recs[i]; r.Type == reconcile.RecordEnd {
			out.LastRotation = statuspage.Rotation{Time: r.Time, Outcome: r.Outcome, Reason: redact(r.Reason)}
			break
		}
	}
	if t := reconcile.Replay(recs); t != nil {
		out.OpenTxn = &statuspage.Txn{ID: t.ID, Phase: t.Phase, Started: t.Started}
		if t.Phase == reconcile.PhaseVerified && t.FinalizeAfter.After(now) {
			out.PendingRevocation, out.PendingUntil = true, t.FinalizeAfter
		}
	}
	if len(reconcile.PendingRevocations(recs)) > 0 {
		out.PendingRevocation = true // an old value still to be revoked by hand at the provider (no deadline)
	}
	for _, l := range sec.Current {
		src := statuspage.SourceState{Location: l.String()}
		if ds := byPlace[[3]string{sec.Name, reconcile.PlaceSource, l.String()}]; len(ds) > 0 {
			src.Drift = statusDrift(ds[0], redact)
		}
		out.Sources = append(out.Sources, src)
	}
	if row, ok := serverSource(sec, recs, byPlace, redact, now); ok {
		out.Sources = append(out.Sources, row)
	}
	for _, c := range sec.Consumers {
		sc := statuspage.Consumer{Name: c.Name, Action: c.Action}
		for _, d := range byPlace[[3]string{sec.Name, reconcile.PlaceConsumer, c.Name}] {
			sc.Containers = append(sc.Containers, statuspage.Container{ID: d.Container, Drift: statusDrift(d, redact)})
		}
		if len(sc.Containers) == 0 {
			sc.Containers = []statuspage.Container{{}} // not scanned (a host consumer, or no scan yet)
		}
		out.Consumers = append(out.Consumers, sc)
	}
	return out
}

func statusDrift(d reconcile.Drift, redact func(string) string) statuspage.Drift {
	return statuspage.Drift{State: d.State, Since: d.Since, Reason: redact(d.Reason)}
}
