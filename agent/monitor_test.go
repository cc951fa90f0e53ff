package agent

import (
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/app"
	"github.com/rekeyhq/rekey/config"
	"github.com/rekeyhq/rekey/gitsync"
	"github.com/rekeyhq/rekey/metrics"
	"github.com/rekeyhq/rekey/notify"
	"github.com/rekeyhq/rekey/reconcile"
)

func testMonitor(t *testing.T) *Monitor {
	t.Helper()
	return NewMonitor(app.Options{}, slog.New(slog.NewTextHandler(io.Discard, nil)), metrics.New(), "host", "test")
}

// active is the monitor's open incidents by key, with their state.
func active(m *Monitor) map[string]string {
	out := map[string]string{}
	for _, inc := range m.notify().Active() {
		out[inc.Key] = inc.State
	}
	return out
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func testSession(t *testing.T) *app.Session {
	t.Helper()
	cfg, err := config.Parse(app.ConfigFile, []byte(`version: 1
compose: {project_dir: /srv/stack}
values: secrets.sops.yaml
secrets:
  token: {type: token, env: {value: TOKEN}}
`))
	if err != nil {
		t.Fatal(err)
	}
	return &app.Session{Config: cfg, Commit: gitsync.Commit{Hash: "0123456789abcdef0123"}}
}

// TestMonitorRotationIncidents: a failed rotation, a refused secret and a pending revocation each open an
// incident that the next good outcome for that secret clears.
func TestMonitorRotationIncidents(t *testing.T) {
	m := testMonitor(t)
	s := testSession(t)
	m.reconciled(s, []reconcile.Result{
		{Secret: "a", Outcome: reconcile.OutcomeRolledBack, Txn: "t1", Reason: "health gate failed"},
		{Secret: "b", Outcome: reconcile.OutcomeRefused, Note: "replayed value"},
		{Secret: "c", Outcome: reconcile.OutcomePending},
		{Secret: "d", Outcome: reconcile.OutcomeInSync},
	}, nil, time.Second)
	got := active(m)
	want := map[string]string{"rotation/a": "rolled-back", "refused/b": "refused", "revocation/c": "pending"}
	for k, st := range want {
		if got[k] != st {
			t.Errorf("incident %s = %q, want %q (all: %v)", k, got[k], st, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("incidents %v, want %v", keys(got), want)
	}

	// Held continues the rolled-back incident; the next rotation that works clears it.
	m.reconciled(s, []reconcile.Result{{Secret: "a", Outcome: reconcile.OutcomeHeld}}, nil, time.Second)
	if _, ok := active(m)["rotation/a"]; !ok {
		t.Error("held cleared the rolled-back incident")
	}
	m.reconciled(s, []reconcile.Result{
		{Secret: "a", Outcome: reconcile.OutcomeFinalized, Txn: "t2"},
		{Secret: "b", Outcome: reconcile.OutcomeInSync},
		{Secret: "c", Outcome: reconcile.OutcomeRevokedSeen},
	}, nil, time.Second)
	if got := active(m); len(got) != 0 {
		t.Errorf("after good outcomes: incidents %v, want none", keys(got))
	}
}

// TestMonitorRefusedAndTransientIncidents: a refused commit opens one incident, cleared by the next good
// run; transient failures alert only from the third in a row, and a good run clears that too.
func TestMonitorRefusedAndTransientIncidents(t *testing.T) {
	m := testMonitor(t)
	refusal := &app.RefusedError{Reason: "commit is not signed"}
	m.reconciled(nil, nil, refusal, time.Second)
	if got := active(m)["refused/commit"]; got != "refused" {
		t.Fatalf("refused commit: incidents %v", active(m))
	}
	if m.last.result != "refused" {
		t.Errorf("last reconcile result %q, want refused", m.last.result)
	}
	m.reconciled(testSession(t), nil, nil, time.Second)
	if _, ok := active(m)["refused/commit"]; ok {
		t.Error("a good run did not clear the refused commit")
	}

	unreachable := app.Transient(errors.New("dial tcp: connection refused"))
	for i := 1; i <= 3; i++ {
		m.reconciled(nil, nil, unreachable, time.Second)
		_, open := active(m)["transient/reconcile"]
		if open != (i >= transientAlertAfter) {
			t.Fatalf("after %d transient failure(s): incident open = %v", i, open)
		}
	}
	m.reconciled(nil, nil, errors.New("a plain error"), time.Second)
	if _, ok := active(m)["transient/reconcile"]; ok {
		t.Error("a failure that is not transient kept the transient incident")
	}
	if m.transient != 0 {
		t.Errorf("transient count %d after a plain error, want 0", m.transient)
	}
}

// TestMonitorDriftIncidents: a drifted place opens an incident naming the place and the commit; a scan
// without it resolves it; unknown and in-sync places open none.
func TestMonitorDriftIncidents(t *testing.T) {
	m := testMonitor(t)
	s := testSession(t)
	stale := reconcile.Drift{Secret: "token", Place: reconcile.PlaceConsumer, Name: "app", Container: "c1",
		State: reconcile.DriftStaleConsumer, Reason: "runs an older value"}
	unknown := reconcile.Drift{Secret: "token", Place: reconcile.PlaceConsumer, Name: "worker", State: reconcile.DriftUnknown}
	src := reconcile.Drift{Secret: "token", Place: reconcile.PlaceSource, Name: "/srv/stack/.env:TOKEN", State: reconcile.DriftInSync}
	m.report(s, []reconcile.Drift{stale, unknown, src})
	incs := m.notify().Active()
	if len(incs) != 1 {
		t.Fatalf("incidents %v, want one for the stale consumer", incs)
	}
	inc := incs[0]
	if inc.Kind != notify.KindDrift || inc.Consumer != "app (c1)" || inc.State != string(reconcile.DriftStaleConsumer) {
		t.Errorf("incident %+v", inc)
	}
	if want := "runs an older value (desired state at 0123456789ab)"; inc.Reason != want {
		t.Errorf("reason %q, want %q", inc.Reason, want)
	}
	stale.State = reconcile.DriftInSync
	m.report(s, []reconcile.Drift{stale, unknown, src})
	if got := m.notify().Active(); len(got) != 0 {
		t.Errorf("after the drift resolved: incidents %v", got)
	}
}
