package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/rekeyhq/rekey/internal/testenv"
)

const dburlTemplate = "postgres://{{ .login }}:{{ urlquery .value }}@db:5432/shop?sslmode=disable&application_name=client"

// dburlRig is the dburl stack (a client reading only DATABASE_URL) with its database password managed
// through the derived location alone: no variable holds the plain password.
func dburlRig(t *testing.T, extra string) *rig {
	t.Helper()
	testenv.RequireImages(t)
	st := testenv.NewStack(t, filepath.Join("testdata", "dburl"))
	st.Up(t)
	config := fmt.Sprintf(`version: 1
compose: {project_dir: %s, project_name: %s}
values: secrets.sops.yaml
health_timeout: 30s
servers:
  db: {type: postgres, service: db, user: shop, drain_timeout: 30s}
secrets:
  db-password:
    type: token
    server: db
    derived:
      - env: DATABASE_URL
        template: %q
`, st.Dir, st.Name, dburlTemplate) + extra
	r := newRigFor(t, st, config, map[string]string{"db-password": "demo-only-db-password-41c9e2d7"})
	return r
}

// wantURL is DATABASE_URL as rekey must write it for login and password.
func wantURL(login, password string) string {
	return "postgres://" + login + ":" + url.UserPassword("", password).String()[1:] + "@db:5432/shop?sslmode=disable&application_name=client"
}

// clientURL is DATABASE_URL as the running client container has it, and the role it logs in as.
func clientURL(t *testing.T, r *rig) (string, string) {
	t.Helper()
	env, err := r.stack.Exec(t, "client", "printenv", "DATABASE_URL")
	if err != nil {
		t.Fatalf("printenv in client: %v", err)
	}
	env = strings.TrimSuffix(env, "\n")
	who, err := r.stack.Exec(t, "client", "sh", "-c", `psql "$DATABASE_URL" -XAtqc 'SELECT session_user'`)
	if err != nil {
		t.Fatalf("client cannot log in with its DATABASE_URL: %v", err)
	}
	return env, strings.TrimSpace(who)
}

// TestDerivedDatabaseURLRotates rotates the PostgreSQL password of a client that reads only
// DATABASE_URL, twice, with a password holding every character a URL treats specially and non-ASCII:
// the login role alternates (shop_a → shop_b → shop_a), so the URL's user changes with its password;
// the client logs in throughout and PostgreSQL logs no failed login.
func TestDerivedDatabaseURLRotates(t *testing.T) {
	r := dburlRig(t, "")
	res := r.mustApply()
	if !strings.Contains(res.stdout, "db-password") {
		t.Fatalf("first apply:\n%s", res.stdout)
	}
	plan := r.rekey("plan")
	if plan.code != 0 || !strings.Contains(plan.stdout, "in-sync") || !strings.Contains(plan.stdout, ".env:DATABASE_URL (derived): form hmac:") {
		t.Fatalf("plan on the first run:\n%s\n%s", plan.stdout, plan.stderr)
	}
	base := authFailures(t, r)
	for i, login := range []string{"shop_b", "shop_a"} {
		r.values["db-password"] = fmt.Sprintf("r0t@te:/?#%%+ä€-%d-c1", i)
		r.commitValues(fmt.Sprintf("rotate the database password (%d)", i+1))
		res := r.mustApply()
		if !strings.Contains(res.stdout, "rotated") {
			t.Fatalf("apply %d did not rotate:\n%s\n%s", i+1, res.stdout, res.stderr)
		}
		want := wantURL(login, r.values["db-password"])
		if got := r.stack.DotEnv(t)["DATABASE_URL"]; got != want {
			t.Errorf("rotation %d: .env DATABASE_URL is not the URL of %s with the new password", i+1, login)
		}
		got, who := clientURL(t, r)
		if got != want || who != login {
			t.Errorf("rotation %d: the client runs another DATABASE_URL (equal: %v) and logs in as %s, want %s", i+1, got == want, who, login)
		}
		if p := r.rekey("plan"); !strings.Contains(p.stdout, "in-sync") || !strings.Contains(p.stdout, "form hmac:") || strings.Contains(p.stdout, "r0t") {
			t.Errorf("plan after rotation %d:\n%s", i+1, p.stdout)
		}
	}
	// The drift scan reads the URL in .env and in the client's environment as the value it carries.
	if d := r.rekey("drift"); d.code != 0 {
		t.Errorf("drift after the rotations exited %d:\n%s\n%s", d.code, d.stdout, d.stderr)
	}
	if n := authFailures(t, r) - base; n != 0 {
		t.Errorf("PostgreSQL logged %d failed logins during the rotations", n)
	}
	if got := psql(t, r, "SELECT string_agg(rolname || ':' || rolcanlogin, ',' ORDER BY rolname) FROM pg_roles WHERE rolname IN ('shop_a','shop_b')"); got != "shop_a:true,shop_b:false" {
		t.Errorf("roles after two rotations: %s", got)
	}
}

// TestDerivedDatabaseURLRollsBack fails the client's check after it moved to the new URL: rekey puts
// .env back byte for byte, re-rolls the client onto the old URL and takes LOGIN from the staged role.
func TestDerivedDatabaseURLRollsBack(t *testing.T) {
	r := dburlRig(t, `    verify:
      - exec: {service: client, cmd: ["sh", "-c", "exit 1"]}
`)
	r.mustApply()
	envPath := filepath.Join(r.stack.Dir, ".env")
	before, err := os.ReadFile(envPath)
	if err != nil {
		t.Fatal(err)
	}
	oldURL, _ := clientURL(t, r)
	r.values["db-password"] = "doomed/p@ss#%+ö"
	r.commitValues("rotate the database password, with a check that fails")
	res := r.rekey("apply")
	if res.code != 3 || !strings.Contains(res.stdout, "rolled-back") || !strings.Contains(res.stderr, "unstage on db") {
		t.Fatalf("apply exited %d, want 3 rolled-back with the server unstaged:\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	after, _ := os.ReadFile(envPath)
	if string(after) != string(before) {
		t.Errorf(".env not restored byte for byte")
	}
	if got, who := clientURL(t, r); got != oldURL || who != "shop_a" {
		t.Errorf("client after the rollback: same URL %v, logs in as %s", got == oldURL, who)
	}
	if got := psql(t, r, "SELECT string_agg(rolname || ':' || rolcanlogin, ',' ORDER BY rolname) FROM pg_roles WHERE rolname IN ('shop_a','shop_b')"); got != "shop_a:true,shop_b:false" {
		t.Errorf("roles after the rollback: %s, want shop_a:true,shop_b:false", got)
	}
	if n := authFailures(t, r); n != 0 {
		t.Errorf("PostgreSQL logged %d failed logins", n)
	}
}

// caddyRig is the caddyauth stack (Caddy asking for basic auth, its users file a bcrypt line) with the
// admin password managed through that file alone. It needs rekey-demo/caddy:dev (Debian's caddy).
func caddyRig(t *testing.T, extra string) *rig {
	t.Helper()
	testenv.RequireImages(t, "rekey-demo/caddy:dev") // fails in CI, skips with the reason elsewhere
	st := testenv.NewStack(t, filepath.Join("testdata", "caddyauth"))
	st.Up(t)
	config := fmt.Sprintf(`version: 1
compose: {project_dir: %s, project_name: %s}
values: secrets.sops.yaml
health_timeout: 30s
verify:
  - http: {url: "http://127.0.0.1:%d/", status: 401}
secrets:
  admin-password:
    type: token
    derived:
      - file: users
        template: "admin {{ bcrypt .value }}\n"
`, st.Dir, st.Name, st.AppPort) + extra
	return newRigFor(t, st, config, map[string]string{"admin-password": "admin-pw-0123456789"})
}

// basicAuth is the status Caddy answers a request with user admin and password pw.
func basicAuth(t *testing.T, r *rig, pw string) int {
	t.Helper()
	return basicAuthStatus(t, fmt.Sprintf("http://127.0.0.1:%d/", r.stack.AppPort), pw)
}

func inodeOf(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// TestDerivedBcryptUsersFileRotates rotates the admin password of a Caddy basic auth whose users file
// rekey renders with bcrypt: in sync on the first run (the hash is checked, not compared), then the new
// password logs in and the old one is refused, the file keeps its inode and its bcrypt cost.
func TestDerivedBcryptUsersFileRotates(t *testing.T) {
	r := caddyRig(t, "")
	users := filepath.Join(r.stack.Dir, "users")
	before := inodeOf(t, users)
	if got := basicAuth(t, r, "admin-pw-0123456789"); got != http.StatusOK {
		t.Fatalf("the initial password: status %d", got)
	}
	r.mustApply()
	if plan := r.rekey("plan"); !strings.Contains(plan.stdout, "in-sync") || !strings.Contains(plan.stdout, "users (derived): form hmac:") {
		t.Fatalf("plan on the first run:\n%s", plan.stdout)
	}
	old := r.values["admin-password"]
	r.values["admin-password"] = "n3w:Adm1n p@ss/ä-5c"
	r.commitValues("rotate the admin password")
	res := r.mustApply()
	if !strings.Contains(res.stdout, "rotated") || !strings.Contains(res.stderr+res.stdout, "restart proxy") {
		t.Fatalf("apply did not rotate and restart the proxy:\n%s\n%s", res.stdout, res.stderr)
	}
	if got := basicAuth(t, r, r.values["admin-password"]); got != http.StatusOK {
		t.Errorf("the new password: status %d, want 200", got)
	}
	if got := basicAuth(t, r, old); got != http.StatusUnauthorized {
		t.Errorf("the old password: status %d, want 401", got)
	}
	data := r.stack.ReadFile(t, "users")
	if !strings.HasPrefix(data, "admin $2a$04$") || strings.Contains(data, "7SXJcI2UwOEC") || inodeOf(t, users) != before {
		t.Errorf("users file: a cost-4 hash of the new value in place? %q, inode kept %v", data[:min(len(data), 13)], inodeOf(t, users) == before)
	}
	if plan := r.rekey("plan"); !strings.Contains(plan.stdout, "in-sync") {
		t.Errorf("plan after the rotation:\n%s", plan.stdout)
	}
	if d := r.rekey("drift"); d.code != 0 {
		t.Errorf("drift after the rotation exited %d:\n%s\n%s", d.code, d.stdout, d.stderr)
	}
}

// TestDerivedBcryptUsersFileRollsBack: a failing check puts the users file back byte for byte, and the
// old password logs in again.
func TestDerivedBcryptUsersFileRollsBack(t *testing.T) {
	r := caddyRig(t, `    verify:
      - http: {url: "http://127.0.0.1:1/", status: 200, timeout: 1s}
`)
	r.mustApply()
	before := r.stack.ReadFile(t, "users")
	old := r.values["admin-password"]
	r.values["admin-password"] = "doomed-admin-pw-77"
	r.commitValues("rotate, with a check that fails")
	if res := r.rekey("apply"); res.code != 3 || !strings.Contains(res.stdout, "rolled-back") {
		t.Fatalf("apply exited %d, want 3 rolled-back:\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if r.stack.ReadFile(t, "users") != before {
		t.Error("users file not restored byte for byte")
	}
	if got := basicAuth(t, r, old); got != http.StatusOK {
		t.Errorf("the old password after the rollback: status %d", got)
	}
	if got := basicAuth(t, r, r.values["admin-password"]); got != http.StatusUnauthorized {
		t.Errorf("the rolled-back password: status %d, want 401", got)
	}
}

// TestDerivedDatabaseURLKilledAtEveryJournalStep kills rekey (SIGKILL) right after each journal record of
// a rotation of the DATABASE_URL-only stack in turn, then runs apply again: every time DATABASE_URL must
// end as the URL of the one login role that can log in, with the new password, and the client must log
// in with it; PostgreSQL logs no failed login.
func TestDerivedDatabaseURLKilledAtEveryJournalStep(t *testing.T) {
	r := dburlRig(t, "")
	r.mustApply()
	base := authFailures(t, r)
	for n := 1; ; n++ {
		value := fmt.Sprintf("k1ll@%02d:/?#%%+é", n)
		r.values["db-password"] = value
		r.commitValues(fmt.Sprintf("rotation %d", n))
		res := r.rekeyOpts([]string{"--debug-kill-after-records", fmt.Sprint(n)}, "apply")
		if !res.killed {
			if res.code != 0 {
				t.Fatalf("run %d exited %d without being killed:\n%s\n%s", n, res.code, res.stdout, res.stderr)
			}
			t.Logf("a rotation writes %d journal records; each was a kill point", n-1)
			break
		}
		if res = r.rekey("apply"); res.code != 0 {
			t.Fatalf("after kill at record %d, apply exited %d:\n%s\n%s", n, res.code, res.stdout, res.stderr)
		}
		got, who := clientURL(t, r)
		if got != wantURL(who, value) || r.stack.DotEnv(t)["DATABASE_URL"] != got {
			t.Fatalf("after kill at record %d: DATABASE_URL is not the URL of %s with the new password, in .env and the client", n, who)
		}
		roles := psql(t, r, "SELECT string_agg(rolname || ':' || rolcanlogin, ',' ORDER BY rolname) FROM pg_roles WHERE rolname IN ('shop_a','shop_b')")
		if want := map[string]string{"shop_a": "shop_a:true,shop_b:false", "shop_b": "shop_a:false,shop_b:true"}[who]; roles != want {
			t.Fatalf("after kill at record %d: roles %s, client logs in as %s", n, roles, who)
		}
	}
	if n := authFailures(t, r) - base; n != 0 {
		t.Errorf("PostgreSQL logged %d failed logins", n)
	}
}
