package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// mailLoc and mailToken are a secret that shares nothing with the session key or the database
// password: another file, a host consumer, no server.
var mailLoc = Location{Path: "/srv/shop/mail.env", Key: "MAIL_TOKEN"}

func mailToken() Secret {
	return Secret{Name: "mail-token", Kind: KindToken, Current: []Location{mailLoc},
		Consumers: []Consumer{{Name: "/etc/mailer.conf", Action: NoRoll}}, DesiredFP: fp("mail-2")}
}

// orphanView is the world's observer plus, as app's orphanObserver does, the open transaction of every
// orphan, replayed from the journal at every round.
type orphanView struct{ *world }

func (v orphanView) Observe(ctx context.Context, d Desired) (Observed, error) {
	o, err := v.world.Observe(ctx, d)
	for _, name := range d.Orphans {
		var rs []Record
		for _, r := range v.records {
			if r.Secret == name {
				rs = append(rs, r)
			}
		}
		o.Secrets[name] = SecretState{Txn: Replay(rs)}
	}
	return o, err
}

func (w *world) txnOf(secret string) *Txn {
	var rs []Record
	for _, r := range w.records {
		if r.Secret == secret {
			rs = append(rs, r)
		}
	}
	return Replay(rs)
}

func resultOf(t *testing.T, res []Result, secret string, want Outcome) Result {
	t.Helper()
	for _, r := range res {
		if r.Secret == secret && r.Outcome == want {
			return r
		}
	}
	t.Fatalf("no %s result for %s in %+v", want, secret, res)
	return Result{}
}

// TestRotationRecordsItsFootprint: the begin record names what the transaction touches — locations,
// consumers, server — before the first side effect, and no value.
func TestRotationRecordsItsFootprint(t *testing.T) {
	w := newWorld(t, "old-value")
	w.apply(desired(0), values)
	begin := w.records[0]
	if begin.Type != RecordBegin || begin.Footprint == nil {
		t.Fatalf("first record %+v: want a begin with a footprint", begin)
	}
	want := footprintOf(sessionKey(0))
	if got, _ := json.Marshal(begin.Footprint); string(got) != string(must(json.Marshal(want))) {
		t.Errorf("footprint %s, want %s", got, must(json.Marshal(want)))
	}
	if f := begin.Footprint; len(f.Current) != 1 || f.Current[0].Key != "SESSION_SECRET" || len(f.Previous) != 1 ||
		len(f.Consumers) != 2 || f.Consumers[0].Checks != nil {
		t.Errorf("footprint %+v: want the current and previous locations and the two consumers, no checks", f)
	}
	data, _ := json.Marshal(begin.Footprint) // (this world's fingerprints hold the values: fp:<value>)
	for _, v := range []string{"old-value", "new-value"} {
		if strings.Contains(string(data), v) {
			t.Errorf("the footprint holds the value %q", v)
		}
	}
	if got := w.txnOf("session-key"); got != nil {
		t.Errorf("transaction left open: %+v", got)
	}
}

// TestRenamedMidRotationRollsBackFromTheJournal: session-key is killed while rolling (app runs the new
// value, the worker the old one), then renamed app-session in the config. The next apply rolls the orphan
// back from its recorded footprint and snapshot, rotates the unrelated mail token at once, and rotates
// app-session once the orphan has ended (it shares the file and the consumers).
func TestRenamedMidRotationRollsBackFromTheJournal(t *testing.T) {
	w := newWorld(t, "old-value")
	w.files[mailLoc] = "mail-1"
	w.crashAt = 11
	if _, crashed := w.apply(desired(0), values); !crashed {
		t.Fatal("no crash")
	}
	orphan := w.txnOf("session-key")
	if orphan == nil || orphan.Phase != PhaseRolling || len(orphan.Rolled) != 1 || w.loaded["app"][0] != "new-value" {
		t.Fatalf("after the kill: txn %+v, app runs %q: want rolling with app rolled onto the new value", orphan, w.loaded["app"])
	}
	w.crashAt = 0
	renamed := sessionKey(0)
	renamed.Name, renamed.DesiredFP = "app-session", fp("new-value")
	d := Desired{Revision: "c0ffee", Secrets: []Secret{renamed, mailToken()}, Orphans: []string{"session-key"}}
	vals := map[string]string{"app-session": "new-value", "mail-token": "mail-2"}

	plan := MakePlan(d, must(orphanView{w}.Observe(context.Background(), d)))
	if got := plan.Secrets[0]; got.Action != ActionDefer || !strings.Contains(got.Note, "shares file "+env) {
		t.Errorf("app-session plan %s: %s, want deferred, sharing the file", got.Action, got.Note)
	}
	if got := plan.Secrets[1]; got.Action != ActionRotate {
		t.Errorf("mail-token plan %s: %s, want rotate", got.Action, got.Note)
	}

	res, err := Apply(context.Background(), d, orphanView{w}, w.executor(vals))
	if err != nil {
		t.Fatal(err)
	}
	resultOf(t, res, "session-key", OutcomeRecovered)
	resultOf(t, res, "mail-token", OutcomeRotated)
	resultOf(t, res, "app-session", OutcomeRotated)
	w.assertConverged(t)
	if w.files[mailLoc] != "mail-2" {
		t.Errorf("mail token %q, want mail-2", w.files[mailLoc])
	}
	for _, s := range []string{"session-key", "app-session", "mail-token"} {
		if txn := w.txnOf(s); txn != nil {
			t.Errorf("%s: transaction %s left open at %s", s, txn.ID, txn.Phase)
		}
	}
	// The orphan ended before app-session began: its restore never met app-session's writes.
	end, begin := -1, -1
	for i, r := range w.records {
		if r.Txn == orphan.ID && r.Type == RecordEnd {
			end = i
		}
		if r.Secret == "app-session" && r.Type == RecordBegin && begin < 0 {
			begin = i
		}
	}
	if end < 0 || begin < end {
		t.Errorf("orphan ended at record %d, app-session began at %d: want the end first", end, begin)
	}
}

// TestOrphanOnAServerWithoutDriverIsHeldLoudly: the database password is removed from the config between
// verified and its revoke, and no declared secret names its server any more: rekey has no driver, so the
// orphan is held (failed, the next step in its reason) while the unrelated mail token rotates. Declaring
// a secret on the server again lets the next apply finish it forward: the old password revoked.
func TestOrphanOnAServerWithoutDriverIsHeldLoudly(t *testing.T) {
	d := newDB(t, "old-pw")
	d.files[mailLoc] = "mail-1"
	d.crashAt = 14
	if _, crashed := d.apply(); !crashed {
		t.Fatal("no crash")
	}
	if txn := d.txnOf("db-password"); txn == nil || txn.Phase != PhaseVerified {
		t.Fatalf("after the kill: %+v, want verified", txn)
	}
	d.crashAt = 0
	vals := map[string]string{"mail-token": "mail-2", "shop-db": "new-pw"}
	ex := d.executor()
	ex.Values = func(s string) (string, bool) { v, ok := vals[s]; return v, ok }

	des := Desired{Revision: "c0ffee", Secrets: []Secret{mailToken()}, Orphans: []string{"db-password"}}
	res, err := Apply(context.Background(), des, orphanView{d.world}, ex)
	if err != nil {
		t.Fatal(err)
	}
	held := resultOf(t, res, "db-password", OutcomeFailed)
	if held.Action != ActionHold || held.Txn == "" || !strings.Contains(held.Reason, "Next: declare a secret on server db again") {
		t.Errorf("held orphan %+v: want a hold naming the next step", held)
	}
	resultOf(t, res, "mail-token", OutcomeRotated)
	if !d.accepts["old-pw"] || !d.accepts["new-pw"] {
		t.Errorf("server accepts %v: a held orphan must change nothing", slices.Sorted(maps.Keys(d.accepts)))
	}

	shop := dbSecret()
	shop.Name = "shop-db"
	des = Desired{Revision: "c0ffee", Secrets: []Secret{shop, mailToken()}, Orphans: []string{"db-password"}}
	res, err = Apply(context.Background(), des, orphanView{d.world}, ex)
	if err != nil {
		t.Fatal(err)
	}
	resultOf(t, res, "db-password", OutcomeFinalized)
	resultOf(t, res, "shop-db", OutcomeInSync)
	d.assertOn(t, "new-pw")
	if txn := d.txnOf("db-password"); txn != nil {
		t.Errorf("orphan left open at %s", txn.Phase)
	}
}

// TestOrphanFromAnOlderRekeyDefersEverything: a transaction without a footprint may have touched
// anything: every secret with work waits, and the orphan is held with the way out.
func TestOrphanFromAnOlderRekeyDefersEverything(t *testing.T) {
	d := Desired{Secrets: []Secret{sessionKey(0), mailToken()}, Orphans: []string{"gone"}}
	o := observed("hmac:old", "", nil)
	o.Secrets["gone"] = SecretState{Txn: &Txn{ID: "t1", Phase: PhaseRolling, ToFP: "hmac:x"}}
	p := MakePlan(d, o)
	for _, sp := range p.Secrets[:2] {
		if sp.Action != ActionDefer || !strings.Contains(sp.Note, "older rekey") {
			t.Errorf("%s: %s (%s), want deferred", sp.Secret, sp.Action, sp.Note)
		}
	}
	if len(p.Secrets) != 3 || p.Secrets[2].Action != ActionHold || !strings.Contains(p.Secrets[2].Note, "put its declaration back") {
		t.Fatalf("plan %+v: want the orphan held", p.Secrets)
	}
	if got := idle(p, nil); got[2].Outcome != OutcomeFailed || got[0].Outcome != OutcomeDeferred {
		t.Errorf("results %+v: want the deferred secrets deferred and the orphan failed", got)
	}
}

// TestOrphanPlans: per phase, what an orphan's plan does, and which declared secrets wait for it.
func TestOrphanPlans(t *testing.T) {
	fpOf := func(s Secret) *Footprint { return footprintOf(s) }
	db := dbSecret()
	cases := []struct {
		name   string
		txn    *Txn
		decl   []Secret
		action Action
		steps  string // substrings of the plan text, in order
	}{
		{"started: nothing to undo", &Txn{ID: "t", Phase: PhaseStarted, Footprint: fpOf(sessionKey(0))},
			nil, ActionRecover, "committed"},
		{"rolling: restore, re-roll", &Txn{ID: "t", Phase: PhaseRolling, Footprint: fpOf(sessionKey(0)),
			Rolled: []Consumer{{Name: "app", Action: Recreate}}}, nil, ActionRecover, "restore|recreate app|wait healthy app|committed"},
		{"kept window: wait", &Txn{ID: "t", Phase: PhaseVerified, Footprint: fpOf(sessionKey(time.Hour)), FinalizeAfter: t0.Add(time.Hour)},
			nil, ActionWait, ""},
		{"window over: finalize", &Txn{ID: "t", Phase: PhaseVerified, Footprint: fpOf(sessionKey(time.Hour)), FinalizeAfter: t0},
			nil, ActionFinalize, "snapshot|clear " + env + ":SESSION_SECRET_PREVIOUS|recreate app|recreate worker|committed"},
		{"server writing, driver known: unstage", &Txn{ID: "t", Phase: PhaseWriting, Footprint: fpOf(db)},
			[]Secret{db}, ActionRecover, "restore|unstage on db|committed"},
		{"server finalizing, driver known: revoke", &Txn{ID: "t", Phase: PhaseFinalizing, Footprint: fpOf(db), ToFP: "fp:new-pw"},
			[]Secret{db}, ActionFinalize, "wait until no session on db|revoke|recreate db|committed"},
		{"server started, no driver: nothing to unstage", &Txn{ID: "t", Phase: PhaseStarted, Footprint: fpOf(db)},
			nil, ActionRecover, "committed"},
		{"server rolling, no driver: held", &Txn{ID: "t", Phase: PhaseRolling, Footprint: fpOf(db)},
			nil, ActionHold, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Desired{Secrets: c.decl, Orphans: []string{"gone"}}
			o := Observed{Now: t0, Secrets: map[string]SecretState{"gone": {Txn: c.txn}}}
			p := MakePlan(d, o)
			sp := p.Secrets[len(p.Secrets)-1]
			if sp.Secret != "gone" || !sp.Orphan || sp.Action != c.action {
				t.Fatalf("orphan plan %s %s: %s, want %s", sp.Secret, sp.Action, sp.Note, c.action)
			}
			text := p.String()
			rest := text
			for _, want := range strings.Split(c.steps, "|") {
				i := strings.Index(rest, want)
				if i < 0 {
					t.Fatalf("plan lacks %q after what came before:\n%s", want, text)
				}
				rest = rest[i+len(want):]
			}
			for _, sp := range p.Secrets[:len(c.decl)] {
				if sp.Action != ActionDefer && len(sp.Steps) > 0 {
					t.Errorf("%s overlaps the orphan but is planned %s", sp.Secret, sp.Action)
				}
			}
		})
	}
}

// TestFootprintSharedWith: files (any key), consumers, the server's service and the server overlap;
// nothing else does.
func TestFootprintSharedWith(t *testing.T) {
	sk := footprintOf(sessionKey(0))
	for _, c := range []struct {
		s    Secret
		want string
	}{
		{mailToken(), ""},
		{webhookToken(), "consumer app"},
		{Secret{Current: []Location{{Path: env, Key: "OTHER"}}}, "file " + env},
		{dbSecret(), "file " + env + ", consumer app, consumer worker"},
		{Secret{Current: []Location{mailLoc}, Consumers: []Consumer{{Name: "db"}}}, ""},
	} {
		if got := sk.sharedWith(c.s); got != c.want {
			t.Errorf("%s: shared %q, want %q", c.s.Name, got, c.want)
		}
	}
	srv := footprintOf(dbSecret())
	other := Secret{Current: []Location{mailLoc}, Server: &Server{Name: "db"}}
	if got := srv.sharedWith(other); got != "server db" {
		t.Errorf("same server: %q", got)
	}
	svc := Secret{Current: []Location{mailLoc}, Consumers: []Consumer{{Name: "db"}}}
	if got := srv.sharedWith(svc); got != "consumer db" {
		t.Errorf("server's service: %q", got)
	}
}

// TestFootprintSharedWithSpellings: the same file spelled another way (an absolute path is kept as
// written in rekey.yaml) is still a shared file.
func TestFootprintSharedWithSpellings(t *testing.T) {
	host := footprintOf(Secret{Current: []Location{{Path: "/etc/app/token"}},
		Consumers: []Consumer{{Name: "/etc/app/token", Action: NoRoll}}})
	for _, spelled := range []string{"/etc/app/./token", "/etc//app/token", "/etc/app/../app/token"} {
		renamed := Secret{Current: []Location{{Path: spelled}}, Consumers: []Consumer{{Name: spelled, Action: NoRoll}}}
		if got := host.sharedWith(renamed); got != "file "+spelled {
			t.Errorf("%s: shared %q, want the file", spelled, got)
		}
	}
}

// TestOrphanKeptRotationDefersToo: an orphan's rotation that supersedes a kept one (verified, its
// previous value kept) rolls back to it, and the kept one then clears its previous location: a declared
// secret touching only the kept rotation's file waits as well.
func TestOrphanKeptRotationDefersToo(t *testing.T) {
	kept := &Txn{ID: "k", Phase: PhaseVerified, FinalizeAfter: t0.Add(time.Hour), Footprint: footprintOf(sessionKey(time.Hour))}
	moved := Secret{Kind: KindToken, Current: []Location{mailLoc}, Consumers: []Consumer{{Name: "mailer", Action: Restart}}}
	txn := &Txn{ID: "t", Phase: PhaseRolling, Footprint: footprintOf(moved), Kept: kept}
	other := Secret{Name: "other", Kind: KindToken, Current: []Location{{Path: env, Key: "SESSION_SECRET_PREVIOUS"}},
		Consumers: []Consumer{{Name: "api", Action: Recreate}}, DesiredFP: fp("x")}
	d := Desired{Secrets: []Secret{other}, Orphans: []string{"gone"}}
	o := Observed{Now: t0, Secrets: map[string]SecretState{"gone": {Txn: txn}}}
	if sp := MakePlan(d, o).Secrets[0]; sp.Action != ActionDefer || !strings.Contains(sp.Note, "file "+env) {
		t.Errorf("other: %s (%s), want deferred for the kept rotation's file", sp.Action, sp.Note)
	}
}

// TestOrphanValuesNeverShow: an orphan's values are no declared secret's, so the session's redactor does
// not know them: the value it rotated to, read back to retire the old one, is hidden from every text by
// the run itself, even when the server's error quotes it.
func TestOrphanValuesNeverShow(t *testing.T) {
	d := newDB(t, "old-pw")
	d.crashAt = 14
	if _, crashed := d.apply(); !crashed {
		t.Fatal("no crash")
	}
	if txn := d.txnOf("db-password"); txn == nil || txn.Phase != PhaseVerified {
		t.Fatalf("after the kill: %+v, want verified", txn)
	}
	d.crashAt = 0
	d.failAt[StepRevoke] = errors.New(`ERROR: role "shop" password "new-pw" rejected`)
	otherLoc := Location{Path: "/srv/shop/other.env", Key: "OTHER_DB"}
	d.files[otherLoc] = "other-pw"
	other := Secret{Name: "other-db", Kind: KindToken, Current: []Location{otherLoc},
		Consumers: []Consumer{{Name: "admin", Action: Restart}}, DesiredFP: fp("other-pw"), Server: &Server{Name: "db"}}
	ex := d.executor()
	ex.HealWait = time.Millisecond
	ex.Values = func(s string) (string, bool) { return map[string]string{"other-db": "other-pw"}[s], s == "other-db" }
	des := Desired{Revision: "c0ffee", Secrets: []Secret{other}, Orphans: []string{"db-password"}}
	res, err := Apply(context.Background(), des, orphanView{d.world}, ex)
	if err != nil {
		t.Fatal(err)
	}
	r := resultOf(t, res, "db-password", OutcomeFinalizeFailed)
	// (this world's fingerprints hold the value, fp:new-pw: the step's name is not what is checked)
	if strings.Contains(r.Reason, `"new-pw"`) || !strings.Contains(r.Reason, `"[redacted]"`) {
		t.Errorf("reason %q: the orphan's value must be redacted", r.Reason)
	}
	for _, rec := range d.records {
		if strings.Contains(rec.Reason, `"new-pw"`) {
			t.Errorf("journal record %s %s: %q holds the orphan's value", rec.Type, rec.Step, rec.Reason)
		}
	}
}

// quotingWriter fails to write one value back, quoting it as a careless tool would.
type quotingWriter struct {
	*world
	refuse string
}

func (q quotingWriter) WriteValue(ctx context.Context, l Location, v string) error {
	if v == q.refuse {
		return fmt.Errorf("cannot write %s=%s: read-only file system", l.Key, v)
	}
	return q.world.WriteValue(ctx, l, v)
}

// TestOrphanRestoreHidesTheOldValue: the old value an orphan's rollback puts back comes from its
// snapshot, which the session's redactor never read: an error quoting it is redacted by the run.
func TestOrphanRestoreHidesTheOldValue(t *testing.T) {
	w := newWorld(t, "old-value")
	w.crashAt = 11
	if _, crashed := w.apply(desired(0), values); !crashed {
		t.Fatal("no crash")
	}
	w.crashAt = 0
	ex := w.executor(map[string]string{})
	ex.Writer = quotingWriter{world: w, refuse: "old-value"}
	d := Desired{Revision: "c0ffee", Orphans: []string{"session-key"}}
	res, err := Apply(context.Background(), d, orphanView{w}, ex)
	if err != nil {
		t.Fatal(err)
	}
	r := resultOf(t, res, "session-key", OutcomeFailed)
	if strings.Contains(r.Reason, "=old-value") || !strings.Contains(r.Reason, "=[redacted]") {
		t.Errorf("reason %q: the orphan's old value must be redacted", r.Reason)
	}
	for _, rec := range w.records {
		if strings.Contains(rec.Reason, "=old-value") {
			t.Errorf("journal record %s: %q holds the orphan's old value", rec.Type, rec.Reason)
		}
	}
}
