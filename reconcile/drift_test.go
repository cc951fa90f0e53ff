package reconcile

import (
	"fmt"
	"strings"
	"testing"
)

// withState sets Applied and Stale on the observed session key.
func withState(o Observed, applied string, stale ...string) Observed {
	st := o.Secrets["session-key"]
	st.Applied, st.Stale = applied, stale
	o.Secrets["session-key"] = st
	return o
}

func TestPlanDrift(t *testing.T) {
	healed := sessionKey(0)
	healed.Heal = true
	tests := []struct {
		name string
		d    Desired
		o    Observed
		want string
	}{{
		name: "hand edit while Git did not change is drift, left alone",
		d:    Desired{Secrets: []Secret{sessionKey(0)}},
		o:    withState(observed("hmac:edited", "", nil), "hmac:new"),
		want: "secret session-key (app-key): drift — " + driftNote + "\n",
	}, {
		name: "never applied: the first apply rotates",
		d:    Desired{Secrets: []Secret{sessionKey(0)}},
		o:    observed("hmac:edited", "", nil),
		want: "secret session-key (app-key): rotate hmac:edited → hmac:new",
	}, {
		name: "Git moved since the last apply: rotate",
		d:    Desired{Secrets: []Secret{sessionKey(0)}},
		o:    withState(observed("hmac:edited", "", nil), "hmac:older"),
		want: "secret session-key (app-key): rotate hmac:edited → hmac:new",
	}, {
		name: "heal restores Git's value through a rotation",
		d:    Desired{Secrets: []Secret{healed}},
		o:    withState(observed("hmac:edited", "", nil), "hmac:new"),
		want: "secret session-key (app-key): rotate hmac:edited → hmac:new",
	}, {
		name: "apply --heal heals every secret",
		d:    Desired{Secrets: []Secret{sessionKey(0)}, Heal: true},
		o:    withState(observed("hmac:edited", "", nil), "hmac:new"),
		want: "secret session-key (app-key): rotate hmac:edited → hmac:new",
	}, {
		name: "stale consumer without heal: in sync, reported by the drift scan only",
		d:    Desired{Secrets: []Secret{sessionKey(0)}},
		o:    withState(observed("hmac:new", "", nil), "hmac:new", "worker"),
		want: "secret session-key (app-key): in-sync hmac:new\n",
	}, {
		name: "stale consumer with heal: roll only that consumer",
		d:    Desired{Secrets: []Secret{healed}},
		o:    withState(observed("hmac:new", "", nil), "hmac:new", "worker"),
		want: `secret session-key (app-key): rotate hmac:new → hmac:new — heal: roll stale consumers worker
  1. begin
  2. snapshot /srv/shop/.env:SESSION_SECRET, /srv/shop/.env:SESSION_SECRET_PREVIOUS
  3. recreate worker
  4. wait healthy worker
  5. verify http http://127.0.0.1:8080/healthz → 200
  6. record verified
  7. committed
`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := MakePlan(tt.d, tt.o).String()
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("plan:\n%s\nwant prefix:\n%s", got, tt.want)
			}
		})
	}
}

func TestPlanAdopt(t *testing.T) {
	d := Desired{Secrets: []Secret{sessionKey(0)}}
	if sp := MakePlan(d, observed("hmac:new", "", nil)).Secrets[0]; !sp.Adopt || len(sp.Steps) != 0 {
		t.Errorf("in sync, never applied: Adopt=%v steps=%d; want Adopt and no steps", sp.Adopt, len(sp.Steps))
	}
	if sp := MakePlan(d, withState(observed("hmac:new", "", nil), "hmac:new")).Secrets[0]; sp.Adopt {
		t.Error("in sync and known as applied: Adopt set again")
	}
}

func TestLastApplied(t *testing.T) {
	recs := []Record{
		{Type: RecordSynced, ToFP: "a"},
		{Type: RecordBegin, Txn: "t1", FromFP: "a", ToFP: "b"},
		{Type: RecordPhase, Txn: "t1", Phase: PhaseRolling},
		{Type: RecordEnd, Txn: "t1", Outcome: OutcomeRolledBack},
	}
	if got := LastApplied(recs); got != "a" {
		t.Errorf("after a rollback: LastApplied = %q, want a", got)
	}
	recs = append(recs,
		Record{Type: RecordBegin, Txn: "t2", FromFP: "a", ToFP: "c"},
		Record{Type: RecordPhase, Txn: "t2", Phase: PhaseVerified},
	)
	if got := LastApplied(recs); got != "c" {
		t.Errorf("after verified: LastApplied = %q, want c", got)
	}
	// A heal re-roll goes from a value to itself: it must not revoke it.
	recs = append(recs,
		Record{Type: RecordEnd, Txn: "t2", Outcome: OutcomeRotated},
		Record{Type: RecordBegin, Txn: "t3", FromFP: "c", ToFP: "c"},
		Record{Type: RecordEnd, Txn: "t3", Outcome: OutcomeRotated},
	)
	if rv := Revoked(recs); rv["c"] || !rv["a"] {
		t.Errorf("Revoked = %v, want a only", rv)
	}
}

func TestClassify(t *testing.T) {
	s := sessionKey(0)
	loc := s.Current[0]
	live := func(fp, desired, source string) LiveConsumer {
		return LiveConsumer{Consumer: "worker", Container: "c1", Started: t0, FP: fp, DesiredFP: desired, SourceFP: source}
	}
	tests := []struct {
		name string
		in   DriftInput
		want string
	}{{
		name: "in sync",
		in:   DriftInput{Sources: map[Location]string{loc: "hmac:new"}, Applied: "hmac:new", Consumers: []LiveConsumer{live("x", "x", "x")}},
		want: "source /srv/shop/.env:SESSION_SECRET in-sync; consumer worker in-sync",
	}, {
		name: "hand-edited source, consumer recreated with it",
		in:   DriftInput{Sources: map[Location]string{loc: "hmac:edit"}, Applied: "hmac:new", Consumers: []LiveConsumer{live("e", "x", "e")}},
		want: "source /srv/shop/.env:SESSION_SECRET source-edited; consumer worker source-edited",
	}, {
		name: "hand-edited source, consumer not recreated",
		in:   DriftInput{Sources: map[Location]string{loc: "hmac:edit"}, Applied: "hmac:new", Consumers: []LiveConsumer{live("x", "x", "e")}},
		want: "source /srv/shop/.env:SESSION_SECRET source-edited; consumer worker in-sync",
	}, {
		name: "source right, container started with another value",
		in:   DriftInput{Sources: map[Location]string{loc: "hmac:new"}, Applied: "hmac:new", Consumers: []LiveConsumer{live("o", "x", "x")}},
		want: "source /srv/shop/.env:SESSION_SECRET in-sync; consumer worker stale-consumer since 2026-11-26T03:00:00Z",
	}, {
		name: "missing source value",
		in:   DriftInput{Sources: map[Location]string{}, Applied: "hmac:new"},
		want: "source /srv/shop/.env:SESSION_SECRET source-edited",
	}, {
		name: "Git ahead of what rekey applied: pending, not drift",
		in:   DriftInput{Sources: map[Location]string{loc: "hmac:old"}, Applied: "hmac:old", Consumers: []LiveConsumer{live("o", "x", "o")}},
		want: "source /srv/shop/.env:SESSION_SECRET pending; consumer worker pending",
	}, {
		name: "rotation in progress: pending",
		in:   DriftInput{Sources: map[Location]string{loc: "hmac:new"}, Applied: "hmac:old", Txn: &Txn{ID: "t1", Phase: PhaseRolling}, Consumers: []LiveConsumer{live("o", "x", "x")}},
		want: "source /srv/shop/.env:SESSION_SECRET in-sync; consumer worker pending",
	}, {
		name: "unreadable places are unknown",
		in: DriftInput{SourceErr: map[Location]string{loc: "permission denied"}, Applied: "hmac:new",
			Consumers: []LiveConsumer{{Consumer: "worker", Err: "no running container"}},
			Servers:   []LiveServer{{Name: "db", Err: "connection refused"}}},
		want: "source /srv/shop/.env:SESSION_SECRET unknown; consumer worker unknown; server db unknown",
	}, {
		name: "server refuses the desired credential",
		in:   DriftInput{Sources: map[Location]string{loc: "hmac:new"}, Applied: "hmac:new", Servers: []LiveServer{{Name: "db"}}},
		want: "source /srv/shop/.env:SESSION_SECRET in-sync; server db server-mismatch",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var parts []string
			for _, d := range Classify(s, tt.in) {
				p := fmt.Sprintf("%s %s %s", d.Place, d.Name, d.State)
				if !d.Since.IsZero() {
					p += " since " + d.Since.UTC().Format("2006-01-02T15:04:05Z")
				}
				if d.State != DriftInSync && d.Reason == "" {
					t.Errorf("%s: state %s without a reason", d.Key(), d.State)
				}
				parts = append(parts, p)
			}
			if got := strings.Join(parts, "; "); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestRerollRollbackIsKeptApart(t *testing.T) {
	recs := []Record{
		{Type: RecordBegin, Txn: "t1", FromFP: "a", ToFP: "b"},
		{Type: RecordEnd, Txn: "t1", Outcome: OutcomeRolledBack},
		{Type: RecordBegin, Txn: "t2", FromFP: "a", ToFP: "a"}, // a heal re-roll
		{Type: RecordEnd, Txn: "t2", Outcome: OutcomeRolledBack},
	}
	if got := LastRolledBack(recs); got != "b" {
		t.Errorf("LastRolledBack = %q, want b (a failed re-roll says nothing about a value)", got)
	}
	if got := LastRerollRolledBack(recs); got != "a" {
		t.Errorf("LastRerollRolledBack = %q, want a", got)
	}
	if got := LastRerollRolledBack(recs[:2]); got != "" {
		t.Errorf("LastRerollRolledBack without a re-roll = %q", got)
	}
}

func TestNoAdoptOfARevokedValue(t *testing.T) {
	o := withState(observed("hmac:new", "", nil), "hmac:other")
	st := o.Secrets["session-key"]
	st.Revoked = true
	o.Secrets["session-key"] = st
	if sp := MakePlan(Desired{Secrets: []Secret{sessionKey(0)}}, o).Secrets[0]; sp.Adopt {
		t.Error("a revoked value written back by hand was adopted as applied")
	}
}
