package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// urlDB is db whose secret lives only in a derived location, DATABASE_URL, holding the login and the
// password in a URL ("pg://LOGIN:PASSWORD@db"); consumers log in with what the URL carries. The login
// alternates (shop_a → shop_b), as PostgreSQL's login roles do.
type urlDB struct{ *db }

var urlLoc = Location{Path: env, Key: "DATABASE_URL", Form: "db-password#0"}

func newURLDB(t *testing.T) *urlDB {
	d := newDB(t, "old-pw")
	d.files = map[Location]string{urlLoc: "pg://shop_a:old-pw@db"}
	d.login = "shop_b"
	return &urlDB{d}
}

func (u *urlDB) WriteForm(_ context.Context, l Location, value, login string) error {
	if l != urlLoc || login == "" {
		return fmt.Errorf("WriteForm(%v, login %q)", l, login)
	}
	u.files[l] = "pg://" + login + ":" + value + "@db"
	return nil
}

func (u *urlDB) DecodeForm(l Location, form string) (string, error) {
	_, rest, _ := strings.Cut(form, "://")
	userinfo, _, _ := strings.Cut(rest, "@")
	_, pw, ok := strings.Cut(userinfo, ":")
	if !ok {
		return "", errors.New("no password")
	}
	return pw, nil
}

func (u *urlDB) password() string { pw, _ := u.DecodeForm(urlLoc, u.files[urlLoc]); return pw }

func (u *urlDB) Roll(_ context.Context, c Consumer) error {
	if u.failRoll != nil {
		if err := u.failRoll(c.Name); err != nil {
			return err
		}
	}
	u.uses[c.Name] = u.password()
	if c.Name == "db" {
		u.accepts = map[string]bool{u.password(): true}
	}
	return u.logins()
}

func (u *urlDB) Observe(ctx context.Context, des Desired) (Observed, error) {
	o, err := u.db.Observe(ctx, des)
	st := o.Secrets["db-password"]
	st.Current = map[Location]string{urlLoc: fp(u.password())}
	st.Forms = map[Location]string{urlLoc: "form:" + u.files[urlLoc]}
	o.Secrets["db-password"] = st
	return o, err
}

func (u *urlDB) desired() Desired {
	d := u.db.desired()
	d.Secrets[0].Current = []Location{urlLoc}
	return d
}

func (u *urlDB) apply() (res []Result, crashed bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(crash); !ok {
				panic(r)
			}
			crashed = true
		}
	}()
	ex := u.db.executor()
	ex.Reader, ex.Writer, ex.Roller = u, u, u
	res, err := Apply(context.Background(), u.desired(), u, ex)
	if err != nil {
		u.t.Fatalf("apply: %v", err)
	}
	return res, false
}

func TestDerivedURLRotatesWithTheStagedLogin(t *testing.T) {
	u := newURLDB(t)
	plan := MakePlan(u.desired(), must(u.Observe(context.Background(), u.desired())))
	if s := plan.String(); !strings.Contains(s, "write /srv/shop/.env:DATABASE_URL (derived) = fp:new-pw (desired)") {
		t.Fatalf("plan:\n%s", s)
	}
	if f := plan.Secrets[0].Forms; len(f) != 1 || f[0].InSync || f[0].FormFP == "" {
		t.Fatalf("plan forms = %+v", f)
	}
	res, _ := u.apply()
	if res[0].Outcome != OutcomeRotated || u.checked == 0 {
		t.Fatalf("outcome %s (%s), checked %d", res[0].Outcome, res[0].Reason, u.checked)
	}
	if got := u.files[urlLoc]; got != "pg://shop_b:new-pw@db" {
		t.Errorf("DATABASE_URL = %q, want the new password with the staged login shop_b", got)
	}
	for _, c := range []string{"app", "worker", "db"} {
		if u.uses[c] != "new-pw" {
			t.Errorf("%s runs %q", c, u.uses[c])
		}
	}
}

func TestDerivedURLRollsBackByteForByte(t *testing.T) {
	u := newURLDB(t)
	u.files[urlLoc] = "pg://shop_a:old-pw@db?sslmode=disable&x=1" // what rekey would not write itself
	before := u.files[urlLoc]
	failed := false
	u.failRoll = func(c string) error {
		if c == "worker" && !failed {
			failed = true
			return errors.New("worker did not start")
		}
		return nil
	}
	res, _ := u.apply()
	if res[0].Outcome != OutcomeRolledBack {
		t.Fatalf("outcome %s: %s", res[0].Outcome, res[0].Reason)
	}
	if u.files[urlLoc] != before {
		t.Errorf("DATABASE_URL after the rollback = %q, want %q", u.files[urlLoc], before)
	}
	if !u.accepts["old-pw"] || u.accepts["new-pw"] {
		t.Errorf("server accepts %v after the rollback (unstage must read the old value back from the URL)", u.accepts)
	}
}

func TestDerivedURLConvergesAfterCrashAtEveryRecord(t *testing.T) {
	clean := newURLDB(t)
	clean.apply()
	for n := 1; n <= len(clean.records); n++ {
		t.Run(fmt.Sprintf("crash-after-record-%d", n), func(t *testing.T) {
			u := newURLDB(t)
			u.crashAt = n
			if _, crashed := u.apply(); !crashed {
				t.Fatalf("did not crash at record %d", n)
			}
			u.crashAt = 0
			res, _ := u.apply()
			for _, r := range res {
				if r.Outcome == OutcomeFailed || r.Outcome == OutcomeRolledBack || r.Outcome == OutcomeBlocked {
					t.Errorf("rerun outcome %s: %s", r.Outcome, r.Reason)
				}
			}
			if u.password() != "new-pw" || !u.accepts["new-pw"] || u.accepts["old-pw"] {
				t.Errorf("after the rerun: URL %q, server accepts %v", u.files[urlLoc], u.accepts)
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestDerivedURLPendingRevocationKeepsThePassword: an old value only its operator can revoke is kept for
// the probes as the password itself, not as the URL that held it (a URL never logs in: the probe would
// report the revocation seen while the old password still works).
func TestDerivedURLPendingRevocationKeepsThePassword(t *testing.T) {
	u := newURLDB(t)
	u.byHand = true
	res, _ := u.apply()
	if len(res) == 0 || res[0].Outcome != OutcomeRotated || res[0].Pending == "" {
		t.Fatalf("results = %+v, want rotated with a pending revocation", res)
	}
	kept, ok := u.stash[pendingKey("db-password", res[0].Pending)]
	if !ok || string(kept) != `"old-pw"` {
		t.Fatalf("kept for the probes: %q, want the old password", kept)
	}
	if res, _ = u.apply(); len(res) == 0 || res[0].Outcome != OutcomePending {
		t.Fatalf("results = %+v, want the old password still pending", res)
	}
}

// TestDerivedURLHealsWithTheOldPassword: the server restarts onto the old password before the revoke;
// the heal logs in with the old password read back out of the snapshotted URL (not with the URL) and
// stages the new one again: rotated in the same apply.
func TestDerivedURLHealsWithTheOldPassword(t *testing.T) {
	u := newURLDB(t)
	ex := u.db.executor()
	ex.Reader, ex.Writer, ex.Roller = u, u, u
	restartAt(u.db, ex, "revoke", "old-pw")
	res, err := Apply(context.Background(), u.desired(), u, ex)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Outcome != OutcomeRotated || !strings.Contains(res[0].Note, "staged it again") {
		t.Fatalf("results = %+v, want rotated after staging the new value again", res)
	}
}
