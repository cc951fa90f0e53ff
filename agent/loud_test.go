package agent

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/app"
	"github.com/rekeyhq/rekey/config"
	"github.com/rekeyhq/rekey/gitsync"
	"github.com/rekeyhq/rekey/reconcile"
)

// TestLogResultsLevelsAndOnce: a stuck transaction and a held value are ERROR, a rollback WARN, a rotation
// INFO; the same line twice in one run (the revoke tried twice) is logged once.
func TestLogResultsLevelsAndOnce(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	stuck := reconcile.Result{Secret: "redis", Outcome: reconcile.OutcomeFinalizeFailed, Reason: "revoke: WRONGPASS"}
	logResults(log, []reconcile.Result{
		stuck, stuck,
		{Secret: "pg", Outcome: reconcile.OutcomeRolledBack, Reason: "verify: 503"},
		{Secret: "session", Outcome: reconcile.OutcomeHeld, Note: "the last attempt rolled back"},
		{Secret: "app", Outcome: reconcile.OutcomeRotated},
		{Secret: "quiet", Outcome: reconcile.OutcomeInSync},
	})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := map[string]string{"secret=redis": "level=ERROR", "secret=pg": "level=WARN", "secret=session": "level=ERROR", "secret=app": "level=INFO"}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d (one per secret):\n%s", len(lines), len(want), buf.String())
	}
	for _, l := range lines {
		for secret, level := range want {
			if strings.Contains(l, secret+" ") && !strings.Contains(l, level) {
				t.Errorf("line %q: want %s", l, level)
			}
		}
	}
}

// TestAgentRunLogsFailureAtWarn: a failed run is a WARN line, a good one INFO.
func TestAgentRunLogsFailureAtWarn(t *testing.T) {
	var buf bytes.Buffer
	r := &recorder{err: errors.New("boom")}
	a := New(r, WithLogger(slog.New(slog.NewTextHandler(&buf, nil))))
	a.runOnce(context.Background())
	if !strings.Contains(buf.String(), "level=WARN msg=reconciled") {
		t.Errorf("failed run logged as %q, want WARN", buf.String())
	}
	buf.Reset()
	r.err = nil
	a.runOnce(context.Background())
	if !strings.Contains(buf.String(), "level=INFO msg=reconciled") {
		t.Errorf("good run logged as %q, want INFO", buf.String())
	}
}

func serverSession(t *testing.T) *app.Session {
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
	s := &app.Session{Config: cfg, Commit: gitsync.Commit{Hash: "0123456789abcdef0123"}}
	s.Desired.Secrets = []reconcile.Secret{{Name: "redis_password", Kind: reconcile.KindToken,
		Current: []reconcile.Location{{Path: "/srv/stack/.env", Key: "REDIS_PASSWORD"}},
		Server:  &reconcile.Server{Name: "cache", Mechanism: "acl"}}}
	return s
}

// TestFinalizeFailedAlertsOnceWithTheNextStep: the first finalize-failed alerts with the command to run,
// the same state at the next runs does not alert again, and the finalize that works sends the recovery.
func TestFinalizeFailedAlertsOnceWithTheNextStep(t *testing.T) {
	n := newAlertSink(t)
	m := testMonitor(t)
	m.notifier = n.Notifier
	s := serverSession(t)
	stuck := reconcile.Result{Secret: "redis_password", Outcome: reconcile.OutcomeFinalizeFailed, Txn: "t1",
		Reason: "revoke the old value on cache: WRONGPASS"}
	for range 3 {
		m.reconciled(s, []reconcile.Result{stuck}, nil, time.Second)
	}
	var reason string
	for _, inc := range n.Active() {
		reason = inc.Reason
	}
	if !strings.HasPrefix(reason, "the new value is live but cache still has to revoke the old one. Next:") ||
		!strings.Contains(reason, "`rekey reconcile`") || !strings.Contains(reason, "Cause: revoke the old value on cache: WRONGPASS") {
		t.Errorf("alert reason %q lacks the next step or the cause", reason)
	}
	m.reconciled(s, []reconcile.Result{{Secret: "redis_password", Outcome: reconcile.OutcomeFinalized, Txn: "t1"}}, nil, time.Second)
	bodies := n.sent(t)
	if len(bodies) != 2 || !strings.Contains(bodies[0], "rekey reconcile") || !strings.Contains(bodies[1], "resolved") {
		t.Fatalf("messages %q, want one alert with the next step and one recovery", bodies)
	}
}

// TestScheduledWriteBackFailureAlerts: a scheduled rotation that could not commit raises an alert, which
// the next write-back of that secret clears.
func TestScheduledWriteBackFailureAlerts(t *testing.T) {
	m := testMonitor(t)
	m.scheduled([]app.Scheduled{{Secret: "token", Err: errors.New("push rejected")}})
	if got := active(m); got["scheduled/token"] != "write-back-failed" {
		t.Fatalf("incidents %v, want scheduled/token", got)
	}
	m.scheduled([]app.Scheduled{{Secret: "token", Commit: gitsync.Commit{Hash: "abc"}}})
	if got := active(m); len(got) != 0 {
		t.Errorf("incidents %v after a good write-back", got)
	}
}

// TestStatusShowsAStuckServerNotInSync: the Redis .env entry holds Git's value, but the server side of a
// transaction stuck at finalizing is shown as not in sync, with the last failure, and the secret drifted.
func TestStatusShowsAStuckServerNotInSync(t *testing.T) {
	s := serverSession(t)
	sec := s.Desired.Secrets[0]
	now := time.Now()
	recs := []reconcile.Record{
		{Txn: "t1", Secret: sec.Name, Type: reconcile.RecordBegin, Time: now.Add(-time.Hour)},
		{Txn: "t1", Secret: sec.Name, Type: reconcile.RecordPhase, Phase: reconcile.PhaseVerified},
		{Txn: "t1", Secret: sec.Name, Type: reconcile.RecordPhase, Phase: reconcile.PhaseFinalizing},
		{Txn: "t1", Secret: sec.Name, Type: reconcile.RecordFailed, Reason: "revoke: WRONGPASS"},
	}
	src := reconcile.Drift{Secret: sec.Name, Place: reconcile.PlaceSource, Name: sec.Current[0].String(), State: reconcile.DriftInSync}
	byPlace := map[[3]string][]reconcile.Drift{{sec.Name, reconcile.PlaceSource, src.Name}: {src}}
	got := secretStatusModel(sec, recs, byPlace, func(s string) string { return s }, now)
	if len(got.Sources) != 2 || got.Sources[1].Location != "server cache" ||
		got.Sources[1].State != reconcile.DriftServerMismatch || !strings.Contains(got.Sources[1].Reason, "WRONGPASS") {
		t.Fatalf("sources %+v, want the server row not in sync", got.Sources)
	}
	recs = append(recs, reconcile.Record{Txn: "t1", Secret: sec.Name, Type: reconcile.RecordEnd, Outcome: reconcile.OutcomeFinalized})
	if got := secretStatusModel(sec, recs, byPlace, func(s string) string { return s }, now); len(got.Sources) != 1 {
		t.Errorf("sources %+v after the finalize: the server row must go", got.Sources)
	}
}

// TestHeldOrphanAlertsWithItsNextStep: an undeclared secret's transaction rekey cannot finish is logged
// at ERROR and alerted with the next step its reason names first; a secret deferred for it is neither.
func TestHeldOrphanAlertsWithItsNextStep(t *testing.T) {
	n := newAlertSink(t)
	m := testMonitor(t)
	m.notifier = n.Notifier
	s := serverSession(t)
	held := reconcile.Result{Secret: "old-db", Action: reconcile.ActionHold, Outcome: reconcile.OutcomeFailed, Txn: "t1",
		Reason: "secret old-db is no longer in rekey.yaml and its transaction t1 still needs credential server db. Next: declare a secret on server db again"}
	deferred := reconcile.Result{Secret: "session", Action: reconcile.ActionDefer, Outcome: reconcile.OutcomeDeferred}
	m.reconciled(s, []reconcile.Result{held, deferred}, nil, time.Second)
	var reasons []string
	for _, inc := range n.Active() {
		reasons = append(reasons, inc.Secret+": "+inc.Reason)
	}
	if len(reasons) != 1 || !strings.HasPrefix(reasons[0], "old-db: declare a secret on server db again. Cause: secret old-db") {
		t.Errorf("alerts %q: want one, for the orphan, its next step first", reasons)
	}
	var buf bytes.Buffer
	logResults(slog.New(slog.NewTextHandler(&buf, nil)), []reconcile.Result{held, deferred})
	if !strings.Contains(buf.String(), "level=ERROR msg=secret secret=old-db") || !strings.Contains(buf.String(), "level=INFO msg=secret secret=session") {
		t.Errorf("log:\n%s\nwant the orphan at ERROR, the deferred secret at INFO", buf.String())
	}
}
