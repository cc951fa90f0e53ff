package reconcile

import (
	"errors"
	"strings"
	"testing"
)

// redisLoc is where a second secret, a Redis password the app also reads, lives.
var redisLoc = Location{Path: env, Key: "REDIS_PASSWORD"}

// isolationWorld is the soak's situation: redis-password's rotation is stuck finalizing (its revoke
// fails: no server is reachable), the app logs WRONGPASS because of it, and a top-level logs check
// denies WRONGPASS. session-key, an unrelated app key of the same app, is to rotate.
func isolationWorld(t *testing.T, check Check) (*world, Desired) {
	w := newWorld(t, "old-value")
	w.files[redisLoc] = "redis-new"
	w.records = []Record{
		{Txn: "redis-txn", Secret: "redis-password", Type: RecordBegin, FromFP: fp("redis-old"), ToFP: fp("redis-new")},
		{Txn: "redis-txn", Secret: "redis-password", Type: RecordPhase, Phase: PhaseVerified},
		{Txn: "redis-txn", Secret: "redis-password", Type: RecordPhase, Phase: PhaseFinalizing},
	}
	w.failWhen = func(c Check, _ Scope) error {
		switch c.Kind {
		case CheckLogs:
			return errors.New(`logs of shop-app-1 contain "WRONGPASS"`)
		case CheckHTTP:
			if c.URL != "http://app/healthz" {
				return nil
			}
			return errors.New("GET http://app/healthz: status 500, want 200")
		}
		return nil
	}
	d := desired(0)
	d.Secrets[0].Checks = append(d.Secrets[0].Checks, check)
	d.Secrets = append(d.Secrets, Secret{Name: "redis-password", Kind: KindToken, Current: []Location{redisLoc},
		Consumers: []Consumer{{Name: "app", Action: Recreate}},
		Server:    &Server{Name: "redis", Mechanism: "acl", Service: "redis"}, DesiredFP: fp("redis-new")})
	return w, d
}

func outcomes(res []Result) map[string]Result {
	out := map[string]Result{}
	for _, r := range res {
		out[r.Secret] = r
	}
	return out
}

// TestIsolationLogsCheckExplainedByAnotherIncident: the logs check finds WRONGPASS in the app's logs,
// which redis-password's open transaction on the app explains: session-key still rotates, and its note
// names the incident. redis-password stays finalize-failed, on its own.
func TestIsolationLogsCheckExplainedByAnotherIncident(t *testing.T) {
	w, d := isolationWorld(t, Check{Kind: CheckLogs, Deny: []string{"WRONGPASS"}})
	res, _ := w.apply(d, map[string]string{"session-key": "new-value", "redis-password": "redis-new"})
	got := outcomes(res)
	if got["session-key"].Outcome != OutcomeRotated {
		t.Fatalf("session-key = %+v, want rotated despite redis-password's incident", got["session-key"])
	}
	note := got["session-key"].Note
	for _, want := range []string{"WRONGPASS", "not held against this rotation", "redis-password's open transaction redis-txn (finalizing)"} {
		if !strings.Contains(note, want) {
			t.Errorf("note %q does not say %q", note, want)
		}
	}
	if got["redis-password"].Outcome != OutcomeFinalizeFailed {
		t.Errorf("redis-password = %+v, want finalize-failed", got["redis-password"])
	}
	w.assertConvergedSession(t)
}

// TestIsolationOtherChecksNameTheIncident: a failing HTTP check still rolls back (it is not ambiguous the
// way a log pattern is), but its reason names the incident that may explain it.
func TestIsolationOtherChecksNameTheIncident(t *testing.T) {
	w, d := isolationWorld(t, Check{Kind: CheckHTTP, URL: "http://app/healthz", Status: 200})
	res, _ := w.apply(d, map[string]string{"session-key": "new-value", "redis-password": "redis-new"})
	got := outcomes(res)["session-key"]
	if got.Outcome != OutcomeRolledBack {
		t.Fatalf("session-key = %+v, want rolled-back", got)
	}
	if !strings.Contains(got.Reason, "redis-password's open transaction redis-txn (finalizing) on the same consumer may explain it") {
		t.Errorf("reason %q does not name the incident", got.Reason)
	}
}

// TestIsolationWithoutIncidentLogsCheckRollsBack: with no other incident, the same logs check is this
// rotation's failure, and rolls it back.
func TestIsolationWithoutIncidentLogsCheckRollsBack(t *testing.T) {
	w, d := isolationWorld(t, Check{Kind: CheckLogs, Deny: []string{"WRONGPASS"}})
	w.records = nil
	res, _ := w.apply(d, map[string]string{"session-key": "new-value", "redis-password": "redis-new"})
	if got := outcomes(res)["session-key"]; got.Outcome != OutcomeRolledBack || !strings.Contains(got.Reason, "WRONGPASS") {
		t.Fatalf("session-key = %+v, want rolled-back on WRONGPASS", got)
	}
}

// TestIsolationIgnoresAKeepWindow: a rotation waiting out its keep_previous window is no incident.
func TestIsolationIgnoresAKeepWindow(t *testing.T) {
	d := Desired{Secrets: []Secret{sessionKey(0), {Name: "other", Consumers: []Consumer{{Name: "app"}}}}}
	o := Observed{Now: t0, Secrets: map[string]SecretState{
		"session-key": {Txn: &Txn{ID: "waiting", Phase: PhaseVerified, FinalizeAfter: t0.Add(1)}},
		"other":       {Txn: &Txn{ID: "stuck", Phase: PhaseVerified}},
	}}
	incs := incidents(d, o)
	if len(incs) != 1 || incs[0].Txn != "stuck" {
		t.Fatalf("incidents = %+v, want only the stuck one", incs)
	}
	p := withIncidents(MakePlan(d, o), incs)
	if len(p.Secrets[0].Incidents) != 1 || len(p.Secrets[1].Incidents) != 0 {
		t.Errorf("a plan must get the other secrets' incidents only: %+v / %+v", p.Secrets[0].Incidents, p.Secrets[1].Incidents)
	}
}

// TestNewCommitFinishesTheStuckTransactionFirst: a new commit of a server secret whose transaction is
// stuck finalizing says that it waits for it.
func TestNewCommitFinishesTheStuckTransactionFirst(t *testing.T) {
	s := Secret{Name: "redis-password", Kind: KindToken, Current: []Location{redisLoc},
		Consumers: []Consumer{{Name: "app", Action: Recreate}}, Server: &Server{Name: "redis"}, DesiredFP: fp("redis-3")}
	for _, ph := range []Phase{PhaseVerified, PhaseFinalizing} {
		o := Observed{Now: t0, Secrets: map[string]SecretState{"redis-password": {
			Current: map[Location]string{redisLoc: fp("redis-2")},
			Txn:     &Txn{ID: "stuck", Phase: ph, ToFP: fp("redis-2")}}}}
		sp := MakePlan(Desired{Secrets: []Secret{s}}, o).Secrets[0]
		if sp.Action != ActionFinalize || !strings.Contains(sp.Note, "finishes stuck first") {
			t.Errorf("%s: plan = %s (%s), want finalize of stuck first, said", ph, sp.Action, sp.Note)
		}
	}
}

// assertConvergedSession checks session-key only (the world also holds redis-password).
func (w *world) assertConvergedSession(t *testing.T) {
	t.Helper()
	if w.files[cur] != "new-value" || w.files[prev] != "" {
		t.Errorf("files = %q/%q, want new-value/empty", w.files[cur], w.files[prev])
	}
}

// TestFailedFinalizeIsTriedOncePerApply: a finalize that fails is not tried again in the next round of
// the same apply (the soak's agent tried each revoke twice and logged two identical lines).
func TestFailedFinalizeIsTriedOncePerApply(t *testing.T) {
	w, d := isolationWorld(t, Check{Kind: CheckHTTP, URL: "http://other/", Status: 200})
	d.Secrets = d.Secrets[1:] // redis-password only: its revoke fails (no server)
	res, _ := w.apply(d, map[string]string{"redis-password": "redis-new"})
	n := 0
	for _, r := range res {
		if r.Secret == "redis-password" && r.Action == ActionFinalize {
			n++
		}
	}
	if n != 1 {
		t.Errorf("finalize attempted %d times in one apply, want 1: %+v", n, res)
	}
}
