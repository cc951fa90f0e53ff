package reconcile

import (
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)

const env = "/srv/shop/.env"

func sessionKey(keep time.Duration) Secret {
	return Secret{
		Name:     "session-key",
		Kind:     KindAppKey,
		Current:  []Location{{Path: env, Key: "SESSION_SECRET"}},
		Previous: []Location{{Path: env, Key: "SESSION_SECRET_PREVIOUS"}},
		Consumers: []Consumer{
			{Name: "app", Action: Recreate},
			{Name: "worker", Action: Recreate},
		},
		Checks:       []Check{{Kind: CheckHTTP, URL: "http://127.0.0.1:8080/healthz", Status: 200}},
		KeepPrevious: keep,
		DesiredFP:    "hmac:new",
	}
}

func webhookToken() Secret {
	return Secret{
		Name:    "webhook-token",
		Kind:    KindToken,
		Current: []Location{{Path: "/srv/shop/secrets/webhook_token.txt"}},
		Consumers: []Consumer{
			{Name: "app", Action: Restart},
			{Name: "/etc/shop/backup.env", Action: NoRoll, Checks: []Check{{Kind: CheckCmd, Cmd: []string{"/usr/local/bin/check"}}}},
		},
		DesiredFP: "hmac:tok2",
	}
}

func observed(cur, prev string, txn *Txn) Observed {
	return Observed{Now: t0, Secrets: map[string]SecretState{
		"session-key": {
			Current:  map[Location]string{{Path: env, Key: "SESSION_SECRET"}: cur},
			Previous: map[Location]string{{Path: env, Key: "SESSION_SECRET_PREVIOUS"}: prev},
			Txn:      txn,
		},
	}}
}

func TestPlanString(t *testing.T) {
	tests := []struct {
		name string
		d    Desired
		o    Observed
		want string
	}{{
		name: "in sync",
		d:    Desired{Secrets: []Secret{sessionKey(0)}},
		o:    observed("hmac:new", "", nil),
		want: "secret session-key (app-key): in-sync hmac:new\n",
	}, {
		name: "app key rotation finalizes at once without a window",
		d:    Desired{Secrets: []Secret{sessionKey(0)}},
		o:    observed("hmac:old", "", nil),
		want: `secret session-key (app-key): rotate hmac:old → hmac:new
  1. begin
  2. snapshot /srv/shop/.env:SESSION_SECRET, /srv/shop/.env:SESSION_SECRET_PREVIOUS
  3. write /srv/shop/.env:SESSION_SECRET_PREVIOUS = hmac:old (old-current)
  4. write /srv/shop/.env:SESSION_SECRET = hmac:new (desired)
  5. recreate app
  6. wait healthy app
  7. verify http http://127.0.0.1:8080/healthz → 200
  8. recreate worker
  9. wait healthy worker
  10. verify http http://127.0.0.1:8080/healthz → 200
  11. record verified
  12. snapshot /srv/shop/.env:SESSION_SECRET, /srv/shop/.env:SESSION_SECRET_PREVIOUS
  13. finalize
  14. clear /srv/shop/.env:SESSION_SECRET_PREVIOUS
  15. recreate app
  16. wait healthy app
  17. verify http http://127.0.0.1:8080/healthz → 200
  18. recreate worker
  19. wait healthy worker
  20. verify http http://127.0.0.1:8080/healthz → 200
  21. committed
`,
	}, {
		name: "app key rotation keeps previous for its window",
		d:    Desired{Secrets: []Secret{sessionKey(24 * time.Hour)}},
		o:    observed("hmac:old", "", nil),
		want: `secret session-key (app-key): rotate hmac:old → hmac:new
  1. begin
  2. snapshot /srv/shop/.env:SESSION_SECRET, /srv/shop/.env:SESSION_SECRET_PREVIOUS
  3. write /srv/shop/.env:SESSION_SECRET_PREVIOUS = hmac:old (old-current)
  4. write /srv/shop/.env:SESSION_SECRET = hmac:new (desired)
  5. recreate app
  6. wait healthy app
  7. verify http http://127.0.0.1:8080/healthz → 200
  8. recreate worker
  9. wait healthy worker
  10. verify http http://127.0.0.1:8080/healthz → 200
  11. record verified; keep previous until 2026-11-27T03:00:00Z
`,
	}, {
		name: "window still open",
		d:    Desired{Secrets: []Secret{sessionKey(24 * time.Hour)}},
		o: observed("hmac:new", "hmac:old", &Txn{ID: "t1", Phase: PhaseVerified, FromFP: "hmac:old", ToFP: "hmac:new",
			FinalizeAfter: t0.Add(time.Hour)}),
		want: "secret session-key (app-key): wait — previous value kept until 2026-11-26T04:00:00Z\n",
	}, {
		name: "window over",
		d:    Desired{Secrets: []Secret{sessionKey(24 * time.Hour)}},
		o: observed("hmac:new", "hmac:old", &Txn{ID: "t1", Phase: PhaseVerified, FromFP: "hmac:old", ToFP: "hmac:new",
			FinalizeAfter: t0.Add(-time.Second)}),
		want: `secret session-key (app-key): finalize
  1. snapshot /srv/shop/.env:SESSION_SECRET, /srv/shop/.env:SESSION_SECRET_PREVIOUS
  2. finalize
  3. clear /srv/shop/.env:SESSION_SECRET_PREVIOUS
  4. recreate app
  5. wait healthy app
  6. verify http http://127.0.0.1:8080/healthz → 200
  7. recreate worker
  8. wait healthy worker
  9. verify http http://127.0.0.1:8080/healthz → 200
  10. committed
`,
	}, {
		name: "interrupted finalize resumes without a new snapshot",
		d:    Desired{Secrets: []Secret{sessionKey(0)}},
		o:    observed("hmac:new", "", &Txn{ID: "t1", Phase: PhaseFinalizing, ToFP: "hmac:new"}),
		want: `secret session-key (app-key): finalize
  1. finalize
  2. clear /srv/shop/.env:SESSION_SECRET_PREVIOUS
  3. recreate app
  4. wait healthy app
  5. verify http http://127.0.0.1:8080/healthz → 200
  6. recreate worker
  7. wait healthy worker
  8. verify http http://127.0.0.1:8080/healthz → 200
  9. committed
`,
	}, {
		name: "interrupted while rolling is rolled back, re-rolling only what was rolled",
		d:    Desired{Secrets: []Secret{sessionKey(0)}},
		o:    observed("hmac:new", "hmac:old", &Txn{ID: "t1", Phase: PhaseRolling, ToFP: "hmac:new", Rolled: []Consumer{{Name: "app", Action: Recreate}}}),
		want: `secret session-key (app-key): recover — interrupted while rolling; rolling back
  1. restore
  2. recreate app
  3. wait healthy app
  4. verify http http://127.0.0.1:8080/healthz → 200
  5. committed
`,
	}, {
		name: "recovery re-rolls in reverse order, so the app keeps accepting the worker's key",
		d:    Desired{Secrets: []Secret{sessionKey(0)}},
		o:    observed("hmac:new", "hmac:old", &Txn{ID: "t1", Phase: PhaseRolling, ToFP: "hmac:new", Rolled: []Consumer{{Name: "app", Action: Recreate}, {Name: "worker", Action: Recreate}}}),
		want: `secret session-key (app-key): recover — interrupted while rolling; rolling back
  1. restore
  2. recreate worker
  3. wait healthy worker
  4. verify http http://127.0.0.1:8080/healthz → 200
  5. recreate app
  6. wait healthy app
  7. verify http http://127.0.0.1:8080/healthz → 200
  8. committed
`,
	}, {
		name: "interrupted before any write needs no restore",
		d:    Desired{Secrets: []Secret{sessionKey(0)}},
		o:    observed("hmac:old", "", &Txn{ID: "t1", Phase: PhaseStarted, ToFP: "hmac:new"}),
		want: `secret session-key (app-key): recover — interrupted while started; rolling back
  1. committed
`,
	}, {
		name: "a new commit supersedes a kept rotation",
		d:    Desired{Secrets: []Secret{sessionKey(time.Hour)}},
		o: observed("hmac:mid", "hmac:old", &Txn{ID: "t1", Phase: PhaseVerified, ToFP: "hmac:mid",
			FinalizeAfter: t0.Add(time.Hour)}),
		want: `secret session-key (app-key): rotate hmac:mid → hmac:new — supersedes t1
  1. begin
  2. snapshot /srv/shop/.env:SESSION_SECRET, /srv/shop/.env:SESSION_SECRET_PREVIOUS
  3. write /srv/shop/.env:SESSION_SECRET_PREVIOUS = hmac:mid (old-current)
  4. write /srv/shop/.env:SESSION_SECRET = hmac:new (desired)
  5. recreate app
  6. wait healthy app
  7. verify http http://127.0.0.1:8080/healthz → 200
  8. recreate worker
  9. wait healthy worker
  10. verify http http://127.0.0.1:8080/healthz → 200
  11. record verified; keep previous until 2026-11-26T04:00:00Z
`,
	}, {
		name: "token: file consumer restarts, host consumer only verifies",
		d:    Desired{Secrets: []Secret{webhookToken()}},
		o:    Observed{Now: t0, Secrets: map[string]SecretState{"webhook-token": {Current: map[Location]string{{Path: "/srv/shop/secrets/webhook_token.txt"}: "hmac:tok1"}}}},
		want: `secret webhook-token (token): rotate hmac:tok1 → hmac:tok2
  1. begin
  2. snapshot /srv/shop/secrets/webhook_token.txt
  3. write /srv/shop/secrets/webhook_token.txt = hmac:tok2 (desired)
  4. restart app
  5. wait healthy app
  6. verify host cmd: /usr/local/bin/check
  7. record verified
  8. committed
`,
	}, {
		name: "a missing value is rotated in",
		d:    Desired{Secrets: []Secret{webhookToken()}},
		o:    Observed{Now: t0},
		want: "secret webhook-token (token): rotate (none) → hmac:tok2\n",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := MakePlan(tc.d, tc.o).String()
			if tc.name == "a missing value is rotated in" {
				got = strings.SplitN(got, "\n", 2)[0] + "\n"
			}
			if got != tc.want {
				t.Errorf("plan mismatch\n--- got\n%s--- want\n%s", got, tc.want)
			}
		})
	}
}

func TestPlanIsDeterministic(t *testing.T) {
	d := Desired{Secrets: []Secret{sessionKey(0), webhookToken()}}
	o := observed("hmac:old", "", nil)
	first := MakePlan(d, o).String()
	for i := 0; i < 20; i++ {
		if got := MakePlan(d, o).String(); got != first {
			t.Fatalf("plan changed between runs:\n%s\nvs\n%s", got, first)
		}
	}
}

func TestTokenVerifiedTxnOnlyCommits(t *testing.T) {
	d := Desired{Secrets: []Secret{webhookToken()}}
	o := Observed{Now: t0, Secrets: map[string]SecretState{"webhook-token": {
		Current: map[Location]string{{Path: "/srv/shop/secrets/webhook_token.txt"}: "hmac:tok2"},
		Txn:     &Txn{ID: "t9", Phase: PhaseVerified, ToFP: "hmac:tok2"},
	}}}
	want := "secret webhook-token (token): finalize\n  1. committed\n"
	if got := MakePlan(d, o).String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestPlanRefusesARevokedValue(t *testing.T) {
	o := observed("hmac:v2", "", nil)
	st := o.Secrets["session-key"]
	st.Revoked = true
	o.Secrets["session-key"] = st
	d := Desired{Secrets: []Secret{sessionKey(0)}}
	want := "secret session-key (app-key): refuse — the desired value was revoked by an earlier rotation (a revert or replay?); commit a new value\n"
	if got := MakePlan(d, o).String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// An interrupted transaction is still rolled back first.
	st.Txn = &Txn{ID: "t1", Phase: PhaseRolling, ToFP: "hmac:x"}
	o.Secrets["session-key"] = st
	if got := MakePlan(d, o).Secrets[0].Action; got != ActionRecover {
		t.Errorf("with an interrupted transaction: %s, want recover", got)
	}
}

func TestRevoked(t *testing.T) {
	recs := []Record{
		{Type: RecordBegin, Txn: "a", FromFP: "v1", ToFP: "v2"},
		{Type: RecordEnd, Txn: "a", Outcome: OutcomeRotated},
		{Type: RecordBegin, Txn: "b", FromFP: "v2", ToFP: "v3"},
		{Type: RecordEnd, Txn: "b", Outcome: OutcomeRolledBack},
		{Type: RecordBegin, Txn: "c", FromFP: "v2", ToFP: "v4"},
		{Type: RecordPhase, Txn: "c", Phase: PhaseVerified},
	}
	got := Revoked(recs)
	if !got["v1"] || got["v2"] || got["v3"] || got["v4"] {
		t.Errorf("revoked = %v, want only v1 (v2 is still kept as previous by c)", got)
	}
	recs = append(recs, Record{Type: RecordEnd, Txn: "c", Outcome: OutcomeFinalized})
	if got := Revoked(recs); !got["v2"] {
		t.Errorf("after c finalized, revoked = %v, want v2 too", got)
	}
}

func TestPlanHoldsAValueThatRolledBack(t *testing.T) {
	o := observed("hmac:old", "", nil)
	st := o.Secrets["session-key"]
	st.RolledBack = "hmac:new"
	o.Secrets["session-key"] = st
	d := Desired{Secrets: []Secret{sessionKey(0)}}
	if got := MakePlan(d, o).Secrets[0]; got.Action != ActionHold || len(got.Steps) != 0 {
		t.Errorf("agent plan = %s with %d steps, want hold", got.Action, len(got.Steps))
	}
	d.Retry = true
	if got := MakePlan(d, o).Secrets[0].Action; got != ActionRotate {
		t.Errorf("with Retry: %s, want rotate", got)
	}
}

func TestLastRolledBack(t *testing.T) {
	recs := []Record{
		{Type: RecordBegin, Txn: "a", ToFP: "v2"},
		{Type: RecordEnd, Txn: "a", Outcome: OutcomeRolledBack},
	}
	if got := LastRolledBack(recs); got != "v2" {
		t.Errorf("after a rollback: %q", got)
	}
	recs = append(recs, Record{Type: RecordBegin, Txn: "b", ToFP: "v2"}, Record{Type: RecordEnd, Txn: "b", Outcome: OutcomeRotated})
	if got := LastRolledBack(recs); got != "" {
		t.Errorf("after a successful retry: %q", got)
	}
	recs = append(recs, Record{Type: RecordBegin, Txn: "c", ToFP: "v3"}, Record{Type: RecordEnd, Txn: "c", Outcome: OutcomeRecovered})
	if got := LastRolledBack(recs); got != "" {
		t.Errorf("a crash recovery is not a failed verification: %q", got)
	}
}

// The review's cases: a revert during the window, a refused value past the window, a superseding value
// that rolled back.
func TestPlanReplayAndHoldDuringAWindow(t *testing.T) {
	d := Desired{Secrets: []Secret{sessionKey(time.Hour)}}
	kept := &Txn{ID: "a", Phase: PhaseVerified, FromFP: "hmac:v1", ToFP: "hmac:v2", FinalizeAfter: t0.Add(time.Hour)}
	st := func(txn *Txn, rolledBack string) Observed {
		o := observed("hmac:v2", "hmac:v1", txn)
		s := o.Secrets["session-key"]
		s.RolledBack = rolledBack
		o.Secrets["session-key"] = s
		return o
	}
	// A revert to v1 while v1 is still kept as previous: refused, not a supersede.
	d.Secrets[0].DesiredFP = "hmac:v1"
	if got := MakePlan(d, st(kept, "")).Secrets[0]; got.Action != ActionRefuse {
		t.Errorf("revert in the window: %s", got.Action)
	}
	// Past the window, the refusal still drops v1.
	past := *kept
	past.FinalizeAfter = t0.Add(-time.Minute)
	if got := MakePlan(d, st(&past, "")).Secrets[0]; got.Action != ActionFinalize || got.Note != refusedNote {
		t.Errorf("revert after the window: %s (%s), want finalize with the refusal noted", got.Action, got.Note)
	}
	// A superseding value that rolled back is held, not retried every run.
	d.Secrets[0].DesiredFP = "hmac:v3"
	if got := MakePlan(d, st(kept, "hmac:v3")).Secrets[0]; got.Action != ActionHold {
		t.Errorf("superseding value that rolled back: %s, want hold", got.Action)
	}
	d.Retry = true
	if got := MakePlan(d, st(kept, "hmac:v3")).Secrets[0]; got.Action != ActionRotate {
		t.Errorf("with Retry: %s, want rotate", got.Action)
	}
}

func TestPlanHeldOrRefusedValuesStillFinishKeptRotations(t *testing.T) {
	d := Desired{Secrets: []Secret{sessionKey(time.Hour)}}
	past := &Txn{ID: "a", Phase: PhaseVerified, FromFP: "hmac:v1", ToFP: "hmac:v2", FinalizeAfter: t0.Add(-time.Minute)}
	o := observed("hmac:v2", "hmac:v1", past)
	s := o.Secrets["session-key"]
	s.RolledBack = "hmac:v3"
	o.Secrets["session-key"] = s
	d.Secrets[0].DesiredFP = "hmac:v3"
	if got := MakePlan(d, o).Secrets[0]; got.Action != ActionFinalize || got.Note != heldNote {
		t.Errorf("held value past the window: %s (%s), want finalize noting the hold", got.Action, got.Note)
	}
	// An interrupted finalize is resumed even when the desired value is the one it is dropping.
	finalizing := &Txn{ID: "a", Phase: PhaseFinalizing, FromFP: "hmac:v1", ToFP: "hmac:v2"}
	d.Secrets[0].DesiredFP = "hmac:v1"
	if got := MakePlan(d, observed("hmac:v2", "", finalizing)).Secrets[0]; got.Action != ActionFinalize {
		t.Errorf("revert during an interrupted finalize: %s, want the finalize resumed", got.Action)
	}
}

// TestPlanRefusesDestroyingAKeptValue: a changed value of a secret with rotation: never is refused,
// flagged as data-destroying when allowed, and written freely where nothing is live.
func TestPlanRefusesDestroyingAKeptValue(t *testing.T) {
	s := webhookToken()
	s.Keep = true
	loc := Location{Path: "/srv/shop/secrets/webhook_token.txt"}
	o := Observed{Now: t0, Secrets: map[string]SecretState{"webhook-token": {Current: map[Location]string{loc: "hmac:tok1"}}}}
	sp := MakePlan(Desired{Secrets: []Secret{s}}, o).Secrets[0]
	if sp.Action != ActionRefuse || !strings.HasPrefix(sp.Note, "DATA-DESTROYING") || len(sp.Steps) != 0 {
		t.Errorf("changed never value: %s %q %d steps, want refuse", sp.Action, sp.Note, len(sp.Steps))
	}
	s.AllowDestroy = true
	sp = MakePlan(Desired{Secrets: []Secret{s}}, o).Secrets[0]
	if sp.Action != ActionRotate || !strings.Contains(sp.Note, "DATA-DESTROYING") {
		t.Errorf("allowed: %s %q, want a flagged rotate", sp.Action, sp.Note)
	}
	s.AllowDestroy = false
	empty := Observed{Now: t0, Secrets: map[string]SecretState{}}
	if sp := MakePlan(Desired{Secrets: []Secret{s}}, empty).Secrets[0]; sp.Action != ActionRotate {
		t.Errorf("nothing live: %s, want rotate", sp.Action)
	}
	s.Keep = false
	if sp := MakePlan(Desired{Secrets: []Secret{s}}, o).Secrets[0]; sp.Action != ActionRotate || sp.Note != "" {
		t.Errorf("generated: %s %q", sp.Action, sp.Note)
	}
}
