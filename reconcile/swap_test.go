package reconcile

import (
	"errors"
	"strings"
	"testing"
)

func TestSwapPlan(t *testing.T) {
	s := dbSecret()
	s.DesiredFP, s.Swap = "hmac:new", true
	o := Observed{Now: t0, Secrets: map[string]SecretState{"db-password": {Current: map[Location]string{dbLoc: "hmac:old"}}}}
	got := MakePlan(Desired{Secrets: []Secret{s}}, o).String()
	want := `secret db-password (token): rotate hmac:old → hmac:new — swap without overlap: worker, app stopped until each is healthy again on the new value (expected interruption: about the time to restart them)
  1. check db accepts the current value hmac:old
  2. begin
  3. snapshot /srv/shop/.env:DB_PASSWORD
  4. stop worker
  5. stop app
  6. swap hmac:new in on db (the old value stops working)
  7. verify hmac:new logs in on db
  8. write /srv/shop/.env:DB_PASSWORD = hmac:new (desired)
  9. recreate app
  10. wait healthy app
  11. verify http http://127.0.0.1:8080/healthz → 200
  12. recreate worker
  13. wait healthy worker
  14. verify http http://127.0.0.1:8080/healthz → 200
  15. record verified
  16. recreate db
  17. wait healthy db
  18. committed
`
	if got != want {
		t.Errorf("plan:\n%s\nwant:\n%s", got, want)
	}
	// Interrupted after the swap: the server takes the old value back before the consumers start on it.
	o.Secrets["db-password"] = SecretState{Current: map[Location]string{dbLoc: "hmac:new"},
		Txn: &Txn{ID: "t1", Phase: PhaseRolling, FromFP: "hmac:old", ToFP: "hmac:new",
			Rolled: []Consumer{{Name: "worker", Action: Recreate}, {Name: "app", Action: Recreate}}}}
	got = MakePlan(Desired{Secrets: []Secret{s}}, o).String()
	if !strings.Contains(got, "1. restore\n  2. stop worker\n  3. stop app\n  4. unstage on db (accept the old value only)\n  5. recreate app") {
		t.Errorf("recover plan must stop the consumers and unstage before starting them again:\n%s", got)
	}
}

func TestSwapRotation(t *testing.T) {
	d := newDB(t, "old-pw")
	d.swap = true
	res, _ := d.apply()
	if len(res) == 0 || res[0].Outcome != OutcomeRotated || !strings.Contains(res[0].Note, "consumers were stopped for") {
		t.Fatalf("results = %+v, want rotated with the interruption measured", res)
	}
	d.assertOn(t, "new-pw")
}

func TestSwapRollsBack(t *testing.T) {
	d := newDB(t, "old-pw")
	d.swap = true
	d.failWhen = func(c Check, s Scope) error {
		if len(s.Consumers) == 4 { // the worker, after its stop and its roll
			return errors.New("http 503")
		}
		return nil
	}
	res, _ := d.apply()
	if len(res) == 0 || res[0].Outcome != OutcomeRolledBack {
		t.Fatalf("results = %+v, want rolled-back", res)
	}
	d.assertOn(t, "old-pw")
	if len(d.stopped) != 0 {
		t.Errorf("consumers left stopped: %v", d.stopped)
	}
}

func TestSwapConvergesAfterCrashAtEveryRecord(t *testing.T) {
	convergesAfterCrashEverywhere(t, func(d *db) { d.swap = true })
}
