package e2e

import (
	"strconv"
	"testing"
)

// handServerPassword is what a person sets on a server by hand: it must never show in rekey's output.
const handServerPassword = "hand-set-server-password-5e6f7a8b"

// serverDrift runs `rekey drift --output json` once (r.rekey checks that no Git value shows, r.drift that
// no hand-set one does) and returns its exit code, the secret's server place and every place.
func serverDrift(t *testing.T, r *rig, secret, server string) (int, driftPlace, map[string]driftPlace) {
	t.Helper()
	code, places := r.drift()
	p, ok := places[secret+" server "+server]
	if !ok {
		t.Fatalf("no place for server %s of %s in %+v", server, secret, places)
	}
	return code, p, places
}

// TestServerMismatchPostgres: a password changed by hand on PostgreSQL (ALTER ROLE) shows as
// server-mismatch in `rekey drift` (exit 6) while every source and consumer stays in sync; once the
// password is put back, the next drift is clean.
func TestServerMismatchPostgres(t *testing.T) {
	r := pgRig(t, "")
	git := r.values["db-password"]
	role := r.stack.DotEnv(t)["DB_USER"]
	if code, p, _ := serverDrift(t, r, "db-password", "db"); code != 0 || p.State != "in-sync" {
		t.Fatalf("before the hand change: exit %d, server %+v", code, p)
	}
	psql(t, r, "ALTER ROLE "+role+" PASSWORD '"+handServerPassword+"'")
	code, p, places := serverDrift(t, r, "db-password", "db")
	if code != 6 || p.State != "server-mismatch" {
		t.Fatalf("after ALTER ROLE by hand: exit %d, server %+v; want exit 6 and server-mismatch", code, p)
	}
	t.Logf("server db: %s (%s)", p.State, p.Reason)
	for k, pl := range places {
		if pl.Place != "server" && pl.State != "in-sync" {
			t.Errorf("%s is %s (%s): only the server changed", k, pl.State, pl.Reason)
		}
	}
	psql(t, r, "ALTER ROLE "+role+" PASSWORD '"+git+"'")
	if code, p, _ := serverDrift(t, r, "db-password", "db"); code != 0 || p.State != "in-sync" {
		t.Fatalf("after the password was put back: exit %d, server %+v", code, p)
	}
}

// TestServerMismatchRedis: a password changed by hand on Redis (ACL SETUSER) shows as server-mismatch
// (exit 6); a stopped Redis is unknown, not a mismatch (exit 7); once the password is put back, the next
// drift is clean.
func TestServerMismatchRedis(t *testing.T) {
	r, redis := redisRig(t)
	git := r.values["redis-password"]
	setPassword := func(from, to string) {
		t.Helper()
		if _, err := redis.session("default", from, "ACL SETUSER default resetpass "+strconv.Quote(">"+to)); err != nil {
			t.Fatal(err)
		}
	}
	if code, p, _ := serverDrift(t, r, "redis-password", "cache"); code != 0 || p.State != "in-sync" {
		t.Fatalf("before the hand change: exit %d, server %+v", code, p)
	}
	setPassword(git, handServerPassword)
	code, p, _ := serverDrift(t, r, "redis-password", "cache")
	if code != 6 || p.State != "server-mismatch" {
		t.Fatalf("after ACL SETUSER by hand: exit %d, server %+v; want exit 6 and server-mismatch", code, p)
	}
	setPassword(handServerPassword, git)
	if code, p, _ := serverDrift(t, r, "redis-password", "cache"); code != 0 || p.State != "in-sync" {
		t.Fatalf("after the password was put back: exit %d, server %+v", code, p)
	}
	r.stack.Compose(t, "stop", "redis")
	code, p, _ = serverDrift(t, r, "redis-password", "cache")
	if code != 7 || p.State != "unknown" || p.Reason == "" {
		t.Fatalf("with Redis stopped: exit %d, server %+v; want exit 7 and unknown with a reason", code, p)
	}
	t.Logf("server cache, stopped: %s (%s)", p.State, p.Reason)
}
