package reconcile

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// db is an in-memory credential server with two consumers (app, worker) and the server's own service,
// which reads the password too. It fails the test the moment any consumer holds a password the server
// does not accept: a dual-window rotation, its rollback and its recovery must never cause an
// authentication failure.
type db struct {
	*world
	accepts  map[string]bool   // passwords the server accepts
	uses     map[string]string // consumer → password it logs in with
	sessions map[string]bool   // passwords still in use by open sessions (drained on Drain)
	failAt   map[StepKind]error
	checked  int
	byHand   bool // the server is an external provider: rekey cannot revoke
	swap     bool // no overlap: the secret uses the swap strategy
	stopped  map[string]bool
	login    string    // the login Stage reports
	userLoc  *Location // where the secret's login lives, if it alternates
}

var dbLoc = Location{Path: env, Key: "DB_PASSWORD"}

func newDB(t *testing.T, password string) *db {
	w := newWorld(t, "")
	w.files = map[Location]string{dbLoc: password}
	d := &db{world: w, accepts: map[string]bool{password: true}, failAt: map[StepKind]error{},
		uses:     map[string]string{"app": password, "worker": password, "db": password},
		sessions: map[string]bool{password: true}}
	return d
}

func dbSecret() Secret {
	return Secret{
		Name:    "db-password",
		Kind:    KindToken,
		Current: []Location{dbLoc},
		Consumers: []Consumer{
			{Name: "app", Action: Recreate},
			{Name: "worker", Action: Recreate},
		},
		Checks:    []Check{{Kind: CheckHTTP, URL: "http://127.0.0.1:8080/healthz", Status: 200}},
		DesiredFP: fp("new-pw"),
		Server:    &Server{Name: "db", Mechanism: "two passwords", Service: "db", Roll: Recreate},
	}
}

func (d *db) desired() Desired {
	s := dbSecret()
	s.DesiredFP = fp(dbValues["db-password"])
	if d.userLoc != nil {
		s.Logins = []Location{*d.userLoc}
	}
	if d.byHand { // an external provider runs no service of the stack
		s.Server.Service = ""
	}
	s.Swap = d.swap
	return Desired{Revision: "c0ffee", Secrets: []Secret{s}}
}

var dbValues = map[string]string{"db-password": "new-pw"}

func (d *db) Roll(_ context.Context, c Consumer) error {
	if d.failRoll != nil {
		if err := d.failRoll(c.Name); err != nil {
			return err
		}
	}
	d.uses[c.Name] = d.files[dbLoc]
	delete(d.stopped, c.Name)
	if c.Name == "db" {
		// The server restarted on its config: it now accepts the value in its source only.
		d.accepts = map[string]bool{d.files[dbLoc]: true}
	}
	return d.logins()
}

func (d *db) logins() error {
	for name, pw := range d.uses {
		if name != "db" && !d.stopped[name] && !d.accepts[pw] {
			d.t.Errorf("%s logs in with a password the server rejects (accepts %v)", name, slices.Sorted(maps.Keys(d.accepts)))
			return errors.New("authentication failed")
		}
	}
	return nil
}

func (d *db) Verify(ctx context.Context, c Check, s Scope) error {
	if err := d.logins(); err != nil {
		return err
	}
	return d.world.Verify(ctx, c, s)
}

func (d *db) fail(k StepKind) error { return d.failAt[k] }

func (c creds) Check(_ context.Context, current string) error {
	d := c.db
	d.checked++
	if err := d.fail(StepCheck); err != nil {
		return err
	}
	if !d.accepts[current] {
		return fmt.Errorf("the current value does not log in on %s", c.name)
	}
	return nil
}

func (c creds) Stage(_ context.Context, current, next string) (string, error) {
	d := c.db
	if err := d.fail(StepStage); err != nil {
		return "", err
	}
	if !d.accepts[current] { // a real driver logs in with current to stage next beside it
		return "", errors.New("the current value does not log in")
	}
	d.accepts[next] = true
	return d.login, nil
}

func (d *db) Verify2(next string) error {
	if !d.accepts[next] {
		return errors.New("the new value does not log in")
	}
	return nil
}

func (c creds) Drain(_ context.Context, next string) error {
	d := c.db
	if err := d.fail(StepDrain); err != nil {
		return err
	}
	d.sessions = map[string]bool{next: true}
	return nil
}

func (c creds) Revoke(_ context.Context, next string) error {
	d := c.db
	if err := d.fail(StepRevoke); err != nil {
		return err
	}
	if d.byHand {
		return fmt.Errorf("smtp relay: %w", ErrRevokeByHand)
	}
	if !d.accepts[next] { // a driver revokes as the new value's login
		return errors.New("the new value does not log in")
	}
	for pw := range d.sessions {
		if pw != next && !d.swap { // a swap runs with every consumer stopped
			d.t.Errorf("revoked while a session still used the old value")
		}
	}
	d.accepts = map[string]bool{next: true}
	return d.logins()
}

func (c creds) Unstage(_ context.Context, current, next string) error {
	d := c.db
	d.accepts = map[string]bool{current: true}
	return d.logins()
}

// Stop implements Stopper: a stopped consumer holds its password but does not log in.
func (d *db) Stop(_ context.Context, name string) error {
	if d.stopped == nil {
		d.stopped = map[string]bool{}
	}
	d.stopped[name] = true
	return nil
}

// creds adapts db to Credentials and to the Credential of its one server, named name (Verify is taken
// by the Verifier).
type creds struct {
	*db
	name string
}

func (c creds) Server(name string) (Credential, error) { return creds{c.db, name}, nil }

func (c creds) Swap(_ context.Context, current, next string) error {
	if !c.accepts[current] {
		return errors.New("the current value does not log in")
	}
	c.accepts = map[string]bool{next: true}
	return nil
}

func (c creds) Accepts(_ context.Context, value string) (bool, error) {
	if err := c.fail(StepProbe); err != nil {
		return false, err
	}
	return c.accepts[value], nil
}

func (d *db) Observe(ctx context.Context, des Desired) (Observed, error) {
	o, err := d.world.Observe(ctx, des)
	for name, st := range o.Secrets {
		var rs []Record
		for _, r := range d.records {
			if r.Secret == name {
				rs = append(rs, r)
			}
		}
		st.Pending = PendingRevocations(rs)
		for _, sec := range des.Secrets { // as the engine's observer does
			if sec.Name == name {
				st.Revoked = Revoked(rs)[sec.DesiredFP]
			}
		}
		st.RolledBack, st.Applied = LastRolledBack(rs), LastApplied(rs)
		o.Secrets[name] = st
	}
	return o, err
}

func (c creds) Verify(_ context.Context, next string) error {
	if err := c.fail(StepLogin); err != nil {
		return err
	}
	return c.Verify2(next)
}

func (d *db) executor() *Executor {
	return &Executor{
		Values: func(s string) (string, bool) { v, ok := dbValues[s]; return v, ok },
		Reader: d, Writer: d, Stash: d, Roller: d, Health: d, Verifier: d, Journal: d,
		Credentials: creds{db: d},
		FP:          fp,
		Now:         func() time.Time { return d.now },
		NewID:       func() string { d.ids++; return fmt.Sprintf("txn%d", d.ids) },
	}
}

func (d *db) apply() (res []Result, crashed bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(crash); !ok {
				panic(r)
			}
			crashed = true
		}
	}()
	res, err := Apply(context.Background(), d.desired(), d, d.executor())
	if err != nil {
		d.t.Fatalf("apply: %v", err)
	}
	return res, false
}

func (d *db) assertOn(t *testing.T, pw string) {
	t.Helper()
	if d.files[dbLoc] != pw {
		t.Errorf("source holds %q, want %q", d.files[dbLoc], pw)
	}
	if want := map[string]bool{pw: true}; !maps.Equal(d.accepts, want) {
		t.Errorf("server accepts %v, want only %q", slices.Sorted(maps.Keys(d.accepts)), pw)
	}
	for _, c := range []string{"app", "worker", "db"} {
		if d.uses[c] != pw {
			t.Errorf("%s runs %q, want %q", c, d.uses[c], pw)
		}
	}
	if txn := Replay(d.records); txn != nil {
		t.Errorf("transaction %s left open at %s", txn.ID, txn.Phase)
	}
}

func TestServerPlan(t *testing.T) {
	o := Observed{Now: t0, Secrets: map[string]SecretState{
		"db-password": {Current: map[Location]string{dbLoc: "hmac:old"}},
	}}
	s := dbSecret()
	s.DesiredFP = "hmac:new"
	got := MakePlan(Desired{Secrets: []Secret{s}}, o).String()
	want := `secret db-password (token): rotate hmac:old → hmac:new
  1. check db accepts the current value hmac:old
  2. begin
  3. snapshot /srv/shop/.env:DB_PASSWORD
  4. stage hmac:new on db (the old value keeps working)
  5. verify hmac:new logs in on db
  6. write /srv/shop/.env:DB_PASSWORD = hmac:new (desired)
  7. recreate app
  8. wait healthy app
  9. verify http http://127.0.0.1:8080/healthz → 200
  10. recreate worker
  11. wait healthy worker
  12. verify http http://127.0.0.1:8080/healthz → 200
  13. record verified
  14. finalize
  15. wait until no session on db uses the old value
  16. revoke the old value on db (accept hmac:new only)
  17. recreate db
  18. wait healthy db
  19. committed
`
	if got != want {
		t.Errorf("plan:\n%s\nwant:\n%s", got, want)
	}

	// Interrupted after staging: the recovery puts the server back on the old value last.
	o.Secrets["db-password"] = SecretState{Current: map[Location]string{dbLoc: "hmac:new"},
		Txn: &Txn{ID: "t1", Phase: PhaseRolling, FromFP: "hmac:old", ToFP: "hmac:new",
			Rolled: []Consumer{{Name: "app", Action: Recreate}}}}
	got = MakePlan(Desired{Secrets: []Secret{s}}, o).String()
	want = `secret db-password (token): recover — interrupted while rolling; rolling back
  1. restore
  2. recreate app
  3. wait healthy app
  4. verify http http://127.0.0.1:8080/healthz → 200
  5. unstage on db (accept the old value only)
  6. committed
`
	if got != want {
		t.Errorf("recover plan:\n%s\nwant:\n%s", got, want)
	}

	// Interrupted after the verified point: finish forward.
	o.Secrets["db-password"] = SecretState{Current: map[Location]string{dbLoc: "hmac:new"},
		Txn: &Txn{ID: "t1", Phase: PhaseFinalizing, FromFP: "hmac:old", ToFP: "hmac:new"}}
	got = MakePlan(Desired{Secrets: []Secret{s}}, o).String()
	want = `secret db-password (token): finalize
  1. finalize
  2. wait until no session on db uses the old value
  3. revoke the old value on db (accept hmac:new only)
  4. recreate db
  5. wait healthy db
  6. committed
`
	if got != want {
		t.Errorf("finalize plan:\n%s\nwant:\n%s", got, want)
	}
}

func TestServerRotation(t *testing.T) {
	d := newDB(t, "old-pw")
	res, _ := d.apply()
	if len(res) == 0 || res[0].Outcome != OutcomeRotated {
		t.Fatalf("results = %+v, want one rotated", res)
	}
	d.assertOn(t, "new-pw")
	if res, _ := d.apply(); res[0].Outcome != OutcomeInSync {
		t.Errorf("second apply = %+v, want in-sync", res[0])
	}
	// The old value is retired: a commit bringing it back is refused.
	if !Revoked(d.records)[fp("old-pw")] {
		t.Error("old value not recorded as revoked")
	}
}

func TestServerCheckFailureChangesNothing(t *testing.T) {
	for name, setup := range map[string]func(d *db){
		"server down":            func(d *db) { d.failAt[StepCheck] = errors.New("connection refused") },
		"current does not login": func(d *db) { d.accepts = map[string]bool{"other": true} },
	} {
		t.Run(name, func(t *testing.T) {
			d := newDB(t, "old-pw")
			setup(d)
			d.uses = map[string]string{} // no consumer to trip the login invariant
			before := maps.Clone(d.accepts)
			res, _ := d.apply()
			if len(res) == 0 || res[0].Outcome != OutcomeBlocked || !strings.Contains(res[0].Reason, "check db") {
				t.Fatalf("results = %+v, want blocked at the check", res)
			}
			if len(d.records) != 0 {
				t.Errorf("journal written for a rotation that never began: %+v", d.records)
			}
			if d.files[dbLoc] != "old-pw" || !maps.Equal(d.accepts, before) {
				t.Errorf("something changed: source %q, server %v", d.files[dbLoc], d.accepts)
			}
		})
	}
}

func TestServerRollsBackBothSides(t *testing.T) {
	for _, failing := range []string{"login", "worker"} {
		t.Run(failing, func(t *testing.T) {
			d := newDB(t, "old-pw")
			if failing == "login" {
				d.failAt[StepLogin] = errors.New("password authentication failed")
			} else {
				d.failWhen = func(c Check, s Scope) error {
					if len(s.Consumers) == 2 {
						return errors.New("http 503")
					}
					return nil
				}
			}
			res, _ := d.apply()
			if len(res) == 0 || res[0].Outcome != OutcomeRolledBack {
				t.Fatalf("results = %+v, want rolled-back", res)
			}
			d.assertOn(t, "old-pw")
		})
	}
}

func TestServerFinalizeFailureStaysOpenAndResumes(t *testing.T) {
	d := newDB(t, "old-pw")
	d.failAt[StepDrain] = errors.New("1 session of app_a still open after 30s")
	res, _ := d.apply()
	if len(res) == 0 || res[0].Outcome != OutcomeFinalizeFailed {
		t.Fatalf("results = %+v, want finalize-failed", res)
	}
	if !d.accepts["old-pw"] || !d.accepts["new-pw"] {
		t.Errorf("server accepts %v, want both while the old value is not drained", d.accepts)
	}
	if txn := Replay(d.records); txn == nil || txn.Phase != PhaseFinalizing {
		t.Fatalf("transaction = %+v, want open at finalizing", txn)
	}
	delete(d.failAt, StepDrain)
	res, _ = d.apply()
	if len(res) == 0 || res[0].Outcome != OutcomeFinalized {
		t.Fatalf("results = %+v, want finalized", res)
	}
	d.assertOn(t, "new-pw")
}

// TestServerConvergesAfterCrashAtEveryRecord kills the executor after each journal record in turn: the
// rerun must end with every consumer and the server on one value, never having revoked a value in use.
func TestServerConvergesAfterCrashAtEveryRecord(t *testing.T) {
	convergesAfterCrashEverywhere(t, func(*db) {})
}

// convergesAfterCrashEverywhere runs the rotation once to count its journal records, then once per record
// with a kill right after it, and checks that a rerun converges.
func convergesAfterCrashEverywhere(t *testing.T, setup func(*db)) {
	clean := newDB(t, "old-pw")
	setup(clean)
	clean.apply()
	for n := 1; n <= len(clean.records); n++ {
		t.Run(fmt.Sprintf("crash-after-record-%d", n), func(t *testing.T) {
			d := newDB(t, "old-pw")
			setup(d)
			d.crashAt = n
			if _, crashed := d.apply(); !crashed {
				t.Fatalf("did not crash at record %d", n)
			}
			d.crashAt = 0
			res, _ := d.apply()
			for _, r := range res {
				if r.Outcome == OutcomeFailed || r.Outcome == OutcomeRolledBack || r.Outcome == OutcomeBlocked {
					t.Errorf("rerun outcome %s: %s", r.Outcome, r.Reason)
				}
			}
			d.assertOn(t, "new-pw")
			if len(d.stopped) != 0 {
				t.Errorf("consumers left stopped: %v", d.stopped)
			}
		})
	}
}

func TestServerWritesTheStagedLogin(t *testing.T) {
	user := Location{Path: env, Key: "DB_USER"}
	for _, fails := range []bool{false, true} {
		t.Run(fmt.Sprintf("verification-fails=%v", fails), func(t *testing.T) {
			d := newDB(t, "old-pw")
			d.files[user], d.userLoc, d.login = "shop_a", &user, "shop_b"
			if fails {
				d.failWhen = func(Check, Scope) error { return errors.New("http 503") }
			}
			res, _ := d.apply()
			want, outcome := "shop_b", OutcomeRotated
			if fails {
				want, outcome = "shop_a", OutcomeRolledBack
			}
			if len(res) == 0 || res[0].Outcome != outcome {
				t.Fatalf("results = %+v, want %s", res, outcome)
			}
			if d.files[user] != want {
				t.Errorf("DB_USER = %q, want %q", d.files[user], want)
			}
		})
	}
	d := newDB(t, "old-pw")
	d.userLoc = &Location{Path: env, Key: "DB_USER"}
	if got := MakePlan(d.desired(), Observed{Now: t0}).String(); !strings.Contains(got, "write /srv/shop/.env:DB_USER = the login fp:new-pw was staged on") {
		t.Errorf("plan does not write the login:\n%s", got)
	}
}

// TestServerPendingRevocation rotates a credential rekey cannot revoke (an SMTP relay's key): the rotation
// completes, the old value is kept encrypted as a pending revocation and probed at every run until the
// operator revokes it at the provider.
func TestServerPendingRevocation(t *testing.T) {
	d := newDB(t, "old-pw")
	d.byHand = true
	res, _ := d.apply()
	if len(res) == 0 || res[0].Outcome != OutcomeRotated || res[0].Pending != fp("old-pw") || !strings.Contains(res[0].Note, "pending revocation") {
		t.Fatalf("results = %+v, want rotated with a pending revocation", res)
	}
	if got := PendingRevocations(d.records); len(got) != 1 || got[0] != fp("old-pw") {
		t.Fatalf("pending = %v, want the old value's fingerprint", got)
	}
	if _, ok := d.stash[pendingKey("db-password", fp("old-pw"))]; !ok {
		t.Fatal("the old value is not kept for the probes")
	}
	// Still accepted at the provider: reported again, nothing else happens.
	res, _ = d.apply()
	if len(res) == 0 || res[0].Outcome != OutcomePending || res[0].Action != ActionProbe {
		t.Fatalf("results = %+v, want a probe that finds it pending", res)
	}
	// A probe that cannot reach the provider keeps it pending, with no journal record.
	// Its error echoes the old value, which only the stash knew: it must not reach the result.
	d.failAt[StepProbe] = errors.New("connection refused after AUTH old-pw")
	n := len(d.records)
	if res, _ = d.apply(); res[0].Outcome != OutcomePending || len(d.records) != n {
		t.Errorf("unreachable provider: %+v, %d new records", res, len(d.records)-n)
	}
	if strings.Contains(res[0].Reason, "AUTH old-pw") || !strings.Contains(res[0].Reason, "AUTH [redacted]") {
		t.Errorf("reason %q shows the pending value", res[0].Reason)
	}
	delete(d.failAt, StepProbe)
	// The operator revokes it: seen, recorded, forgotten.
	delete(d.accepts, "old-pw")
	res, _ = d.apply()
	if len(res) == 0 || res[0].Outcome != OutcomeRevokedSeen {
		t.Fatalf("results = %+v, want the revocation seen", res)
	}
	if got := PendingRevocations(d.records); len(got) != 0 {
		t.Errorf("still pending: %v", got)
	}
	if _, ok := d.stash[pendingKey("db-password", fp("old-pw"))]; ok {
		t.Error("the old value outlived its revocation")
	}
	if res, _ = d.apply(); res[0].Outcome != OutcomeInSync {
		t.Errorf("after: %+v, want in-sync", res)
	}
}

// TestServerFinalizeKeepsTheRotatedValue: a finalize left open (drain timed out) finishes with the value
// the transaction rotated to, whatever Git says by then — a revert must not make the server accept only a
// value no consumer holds — and a newer value is rotated to right after it.
func TestServerFinalizeKeepsTheRotatedValue(t *testing.T) {
	for _, next := range []string{"old-pw", "third-pw"} {
		t.Run("git-moves-to-"+next, func(t *testing.T) {
			d := newDB(t, "old-pw")
			d.failAt[StepDrain] = errors.New("1 session of shop_a still open after 30s")
			if res, _ := d.apply(); res[0].Outcome != OutcomeFinalizeFailed {
				t.Fatalf("results = %+v, want finalize-failed", res)
			}
			delete(d.failAt, StepDrain)
			dbValues["db-password"] = next
			defer func() { dbValues["db-password"] = "new-pw" }()
			res, _ := d.apply()
			want := "new-pw"
			if next == "third-pw" {
				want = "third-pw"
			} else if len(res) == 0 || res[len(res)-1].Outcome != OutcomeRefused {
				t.Errorf("results = %+v, want the reverted value refused", res)
			}
			d.assertOn(t, want)
		})
	}
}
