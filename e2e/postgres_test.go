package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/internal/testenv"
)

const dbSecret = `  db-password:
    type: token
    env: {value: DB_PASSWORD}
    login_env: DB_USER
    server: db
servers:
  db: {type: postgres, service: db, user: shop, drain_timeout: 30s}
`

// pgRig is the demo rig with the app's PostgreSQL password managed too.
func pgRig(t *testing.T, extra string) *rig {
	r := newRig(t, "0s")
	r.values["db-password"] = r.stack.DotEnv(t)["DB_PASSWORD"]
	r.config += strings.Replace(dbSecret, "    server: db\n", "    server: db\n"+extra, 1)
	writeFile(t, filepath.Join(r.repo, "rekey.yaml"), r.config)
	r.commitValues("manage the database password")
	if res := r.mustApply(); !strings.Contains(res.stdout, "db-password") {
		t.Fatalf("apply does not know the database password:\n%s", res.stdout)
	}
	return r
}

// psql runs SQL as the superuser over the db container's socket. The SQL goes on stdin and is never
// quoted in a failure: it may hold a password (ALTER ROLE … PASSWORD).
func psql(t *testing.T, r *rig, sql string) string {
	t.Helper()
	out, err := r.stack.ExecStdin(t, "db", []byte(sql), "psql", "-U", "postgres", "-d", "shop", "-XAtq", "-v", "ON_ERROR_STOP=1")
	if err != nil {
		t.Fatalf("psql: %v", err)
	}
	return strings.TrimSpace(out)
}

// authFailures counts the failed password logins PostgreSQL logged.
func authFailures(t *testing.T, r *rig) int {
	return strings.Count(r.stack.Logs(t, "db"), "password authentication failed")
}

// hammer drives the app's /count (one Redis INCR and one PostgreSQL UPDATE per request, pooled and fresh
// connections) until stopped, and counts failed requests and the ones the app reports as rejected logins.
type hammer struct {
	requests, failed, auth atomic.Int64
	stop                   context.CancelFunc
	wg                     sync.WaitGroup
}

func startHammer(port int) *hammer {
	ctx, cancel := context.WithCancel(context.Background())
	h := &hammer{stop: cancel}
	client := &http.Client{Timeout: 3 * time.Second}
	for range 3 {
		h.wg.Go(func() {
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/count", port), nil)
				resp, err := client.Do(req)
				if ctx.Err() != nil {
					return
				}
				h.requests.Add(1)
				if err != nil {
					h.failed.Add(1)
				} else {
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						h.failed.Add(1)
						if strings.Contains(string(body), "auth failed") {
							h.auth.Add(1)
						}
					}
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	return h
}

func (h *hammer) done() {
	h.stop()
	h.wg.Wait()
}

// TestRotatePostgresPassword rotates the app's database password twice on the demo stack while requests
// keep hitting PostgreSQL over pooled and fresh connections: the login role alternates (shop_a → shop_b →
// shop_a), PostgreSQL logs no failed login, the old role is left without LOGIN and password each time,
// and what either role created stays owned by the owner role.
func TestRotatePostgresPassword(t *testing.T) {
	r := pgRig(t, "")
	base := authFailures(t, r)
	load := startHammer(r.stack.AppPort)
	time.Sleep(time.Second)
	for i, want := range []string{"shop_b", "shop_a"} {
		r.values["db-password"] = fmt.Sprintf("rotated-db-password-%d-9f3c", i)
		r.commitValues(fmt.Sprintf("rotate the database password (%d)", i+1))
		res := r.mustApply()
		if !strings.Contains(res.stdout, "rotated") {
			t.Fatalf("apply did not rotate:\n%s\n%s", res.stdout, res.stderr)
		}
		env := r.stack.DotEnv(t)
		if env["DB_USER"] != want || env["DB_PASSWORD"] != r.values["db-password"] {
			t.Fatalf(".env after rotation %d: DB_USER=%s, password updated=%v; want %s", i+1, env["DB_USER"], env["DB_PASSWORD"] == r.values["db-password"], want)
		}
		app, _ := r.fingerprints()
		if app["db_user"] != want || app["db_password"] != testenv.Fingerprint(r.values["db-password"]) {
			t.Errorf("app runs %s with %s after rotation %d", app["db_user"], app["db_password"], i+1)
		}
		other := map[string]string{"shop_a": "shop_b", "shop_b": "shop_a"}[want]
		got := psql(t, r, "SELECT rolname || ':' || rolcanlogin || ':' || (rolpassword IS NULL) FROM pg_authid WHERE rolname IN ('shop_a','shop_b') ORDER BY 1")
		wantRoles := map[string]string{"shop_a": "shop_a:true:false\nshop_b:false:true", "shop_b": "shop_a:false:true\nshop_b:true:false"}[want]
		if got != wantRoles {
			t.Errorf("roles after rotation %d:\n%s\nwant (%s active, %s without login and password):\n%s", i+1, got, want, other, wantRoles)
		}
	}
	time.Sleep(time.Second)
	load.done()
	if n := authFailures(t, r) - base; n != 0 {
		t.Errorf("PostgreSQL logged %d failed logins during the rotations", n)
	}
	if n := load.auth.Load(); n != 0 {
		t.Errorf("the app reported %d rejected logins", n)
	}
	t.Logf("load: %d requests, %d failed (while the app was recreated), 0 rejected logins", load.requests.Load(), load.failed.Load())
	if load.requests.Load() < 50 {
		t.Errorf("only %d requests reached the app", load.requests.Load())
	}
	// Ownership and grants never drift apart: the table the app created (as shop_a) belongs to shop, and
	// both login roles are members of shop and act as it.
	if owner := psql(t, r, "SELECT tableowner FROM pg_tables WHERE tablename = 'demo_hits'"); owner != "shop" {
		t.Errorf("demo_hits is owned by %q, want shop", owner)
	}
	members := psql(t, r, "SELECT m.rolname || ':' || coalesce(array_to_string(s.setconfig, ','), '') FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles m ON m.oid = a.member LEFT JOIN pg_db_role_setting s ON s.setrole = m.oid WHERE g.rolname = 'shop' ORDER BY 1")
	if members != "shop_a:role=shop\nshop_b:role=shop" {
		t.Errorf("memberships and settings of the login roles:\n%s", members)
	}
}

// TestPostgresRotationRollsBack makes the app fail verification after it moved to the new login: rekey
// puts DB_USER and DB_PASSWORD back, re-rolls the app, and takes LOGIN away from the staged role again.
func TestPostgresRotationRollsBack(t *testing.T) {
	r := pgRig(t, `    verify:
      - exec: {service: app, cmd: ["/demoapp", "probe", "http://127.0.0.1:8080/no-such-page"]}
`)
	old := r.values["db-password"]
	r.values["db-password"] = "doomed-db-password-77aa"
	r.commitValues("rotate the database password, with a check that fails")
	res := r.rekey("apply")
	if res.code != 3 || !strings.Contains(res.stdout, "rolled-back") || !strings.Contains(res.stderr, "unstage on db") {
		t.Fatalf("apply exited %d, want 3 rolled-back with the server unstaged:\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	env := r.stack.DotEnv(t)
	if env["DB_USER"] != "shop_a" || env["DB_PASSWORD"] != old {
		t.Errorf(".env not restored: DB_USER=%s, old password=%v", env["DB_USER"], env["DB_PASSWORD"] == old)
	}
	if got := psql(t, r, "SELECT string_agg(rolname || ':' || rolcanlogin, ',' ORDER BY rolname) FROM pg_roles WHERE rolname IN ('shop_a','shop_b')"); got != "shop_a:true,shop_b:false" {
		t.Errorf("roles after the rollback: %s, want shop_a:true,shop_b:false", got)
	}
	app, _ := r.fingerprints()
	if app["db_user"] != "shop_a" || app["db_password"] != testenv.Fingerprint(old) {
		t.Errorf("app runs %s with %s after the rollback", app["db_user"], app["db_password"])
	}
}

// TestSwapPostgresSingleRole rotates the password of a login role that consumers always use (no second
// role to alternate with): strategy swap stops the app, changes the password, writes the source and starts
// the app again. Requests fail while the app is down — the interruption is measured and reported — but no
// login fails, and the data is intact.
func TestSwapPostgresSingleRole(t *testing.T) {
	r := newRig(t, "0s")
	r.values["db-password"] = r.stack.DotEnv(t)["DB_PASSWORD"]
	r.config += `  db-password:
    type: token
    env: {value: DB_PASSWORD}
    server: db
    strategy: swap
servers:
  db: {type: postgres, service: db, user: shop_a, single: true, database: shop}
`
	writeFile(t, filepath.Join(r.repo, "rekey.yaml"), r.config)
	r.commitValues("manage the database password, single role")
	if res := r.mustApply(); !strings.Contains(res.stdout, "db-password") {
		t.Fatalf("first apply:\n%s", res.stdout)
	}
	base := authFailures(t, r)
	load := startHammer(r.stack.AppPort)
	time.Sleep(time.Second)
	before := psql(t, r, "SELECT n FROM demo_hits WHERE id = 1")

	r.values["db-password"] = "swapped-db-password-5e6f"
	r.commitValues("swap the database password")
	plan := r.rekey("plan")
	if !strings.Contains(plan.stdout, "swap without overlap: app stopped") || !strings.Contains(plan.stdout, "stop app") {
		t.Fatalf("plan does not state the swap and its interruption:\n%s", plan.stdout)
	}
	res := r.mustApply()
	time.Sleep(time.Second)
	load.done()
	if !strings.Contains(res.stdout, "rotated") || !strings.Contains(res.stdout, "consumers were stopped for") {
		t.Fatalf("apply:\n%s\n%s", res.stdout, res.stderr)
	}
	if n := authFailures(t, r) - base; n != 0 {
		t.Errorf("PostgreSQL logged %d failed logins during the swap", n)
	}
	if n := load.auth.Load(); n != 0 {
		t.Errorf("the app reported %d rejected logins", n)
	}
	t.Logf("swap: %d requests, %d failed while the app was down", load.requests.Load(), load.failed.Load())
	if env := r.stack.DotEnv(t); env["DB_USER"] != "shop_a" || env["DB_PASSWORD"] != r.values["db-password"] {
		t.Errorf(".env: DB_USER=%s, new password=%v", env["DB_USER"], env["DB_PASSWORD"] == r.values["db-password"])
	}
	app, _ := r.fingerprints()
	if app["db_password"] != testenv.Fingerprint(r.values["db-password"]) {
		t.Error("the app does not run the new password")
	}
	if after := psql(t, r, "SELECT n FROM demo_hits WHERE id = 1"); len(after) < len(before) || after < before && len(after) == len(before) {
		t.Errorf("hit counter went from %s to %s: data lost", before, after)
	}
}

// TestAdoptOwnerLogin starts from the usual compose setup — the app logs in as the role that owns the
// database — and lets `rekey adopt` move it to alternating login roles without changing the password or
// stopping anything: the first login role gets the owner's password, the app moves to it, the owner loses
// LOGIN; the next rotation then stages the second login role.
func TestAdoptOwnerLogin(t *testing.T) {
	r := newRig(t, "0s")
	const ownerPW = "owner-login-password-3c2d"
	// The app logs in as the owner (shop) now; shop_a and shop_b exist without LOGIN.
	psql(t, r, "ALTER ROLE shop LOGIN PASSWORD '"+ownerPW+"'; ALTER ROLE shop_a NOLOGIN PASSWORD NULL")
	r.stack.SetEnv(t, "DB_USER", "shop")
	r.stack.SetEnv(t, "DB_PASSWORD", ownerPW)
	r.stack.Compose(t, "up", "-d", "--wait", "--no-deps", "app")
	r.values["db-password"] = ownerPW
	r.config += dbSecret
	writeFile(t, filepath.Join(r.repo, "rekey.yaml"), r.config)
	r.commitValues("manage the database password")
	r.mustApply() // in sync: nothing to rotate yet, so the layout does not matter yet
	base := authFailures(t, r)
	load := startHammer(r.stack.AppPort)
	res := r.rekey("adopt", "db-password")
	load.done()
	if res.code != 0 || !strings.Contains(res.stdout, "shop has no LOGIN any more") {
		t.Fatalf("adopt exited %d:\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if env := r.stack.DotEnv(t); env["DB_USER"] != "shop_a" || env["DB_PASSWORD"] != ownerPW {
		t.Errorf(".env after adopt: DB_USER=%s, password unchanged=%v", env["DB_USER"], env["DB_PASSWORD"] == ownerPW)
	}
	if got := psql(t, r, "SELECT string_agg(rolname || ':' || rolcanlogin, ',' ORDER BY rolname) FROM pg_roles WHERE rolname IN ('shop','shop_a','shop_b')"); got != "shop:false,shop_a:true,shop_b:false" {
		t.Errorf("roles after adopt: %s", got)
	}
	if n := authFailures(t, r) - base; n != 0 || load.auth.Load() != 0 {
		t.Errorf("adopt caused %d failed logins (server) and %d rejected (app)", n, load.auth.Load())
	}
	if res := r.mustApply(); !strings.Contains(res.stdout, "db-password") || !strings.Contains(res.stdout, "in-sync") {
		t.Errorf("apply after adopt:\n%s", res.stdout)
	}
	r.values["db-password"] = "first-rotation-after-adopt-8a"
	r.commitValues("rotate after adopt")
	r.mustApply()
	if env := r.stack.DotEnv(t); env["DB_USER"] != "shop_b" {
		t.Errorf("the first rotation after adopt moved to %s, want shop_b", env["DB_USER"])
	}
}
