package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/internal/testenv"
)

// TestInitProposesConfirmedServers: `rekey init` on the running demo stack proposes the servers blocks
// of its PostgreSQL and Redis passwords, confirms each with one read-only login, and the repository it
// writes plans in sync (and drift, which asks the servers, agrees) and rotates both passwords. A value the servers reject is "not
// confirmed"; a stack that is not running is "not checked".
func TestInitProposesConfirmedServers(t *testing.T) {
	testenv.RequireImages(t)
	st := testenv.NewStack(t, testenv.DemoStackDir(t))
	st.Up(t)
	env := st.DotEnv(t)
	secrets := []string{env["DB_PASSWORD"], env["REDIS_PASSWORD"], env["POSTGRES_PASSWORD"], env["SESSION_SECRET"]}
	run := func(args ...string) (string, int) { t.Helper(); return runNoLeak(t, &secrets, args...) }
	dir := t.TempDir()
	out, key, state := filepath.Join(dir, "repo"), filepath.Join(dir, "age-key.txt"), filepath.Join(dir, "state")
	report, code := run("init", "--project-dir", st.Dir, "--project-name", st.Name, "--out", out, "--generate-age-key", key)
	if code != 0 {
		t.Fatalf("init exited %d\n%s", code, report)
	}
	for _, want := range []string{"    server: db (postgres, service db, user shop): ", "    server: redis (redis, service redis, user default): "} {
		i := strings.Index(report, want)
		if i < 0 || !strings.HasPrefix(report[strings.Index(report[i:], "login with the value found: ")+i:], "login with the value found: confirmed by login\n") {
			t.Errorf("the report lacks %q confirmed by login:\n%s", want, report)
		}
	}
	yml, err := os.ReadFile(filepath.Join(out, "rekey.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"servers:\n", "    server: db\n    login_env: DB_USER\n", "    server: redis\n", "# login with the value found: confirmed by login\n"} {
		if !strings.Contains(string(yml), want) {
			t.Errorf("rekey.yaml lacks %q:\n%s", want, yml)
		}
	}
	gitCommit(t, out)
	common := []string{"--repo", out, "--age-key-file", key, "--state-dir", state}
	plan, code := run(append([]string{"plan", "--output", "json"}, common...)...)
	var p struct {
		Secrets []struct {
			Name   string `json:"name"`
			Action string `json:"action"`
		} `json:"secrets"`
	}
	if err := json.Unmarshal([]byte(plan), &p); code != 0 || err != nil || len(p.Secrets) < 5 {
		t.Fatalf("plan exited %d (%v):\n%s", code, err, plan)
	}
	for _, s := range p.Secrets {
		if s.Action != "in-sync" {
			t.Errorf("plan: %s is %s, want in-sync", s.Name, s.Action)
		}
	}
	if drift, code := run(append([]string{"drift"}, common...)...); code != 0 {
		t.Errorf("drift on init's repository exited %d:\n%s", code, drift)
	}
	// Ready to use: both passwords rotate through their proposed servers as they stand.
	for _, secret := range []string{"redis-password", "db-password"} {
		if so, code := run(append([]string{"rotate", secret}, common...)...); code != 0 {
			t.Fatalf("rotate %s on init's proposal exited %d:\n%s", secret, code, so)
		}
	}
	if got := st.DotEnv(t)["DB_USER"]; got != "shop_b" {
		t.Errorf("after the rotation DB_USER = %q, want shop_b (the other login role)", got)
	}

	// Values the servers reject: the running containers keep the old ones.
	st.SetEnv(t, "DB_PASSWORD", "wrong-db-password-0a1b2c3d4e5f")
	st.SetEnv(t, "REDIS_PASSWORD", "wrong-redis-password-6a7b8c9d")
	secrets = append(secrets, "wrong-db-password-0a1b2c3d4e5f", "wrong-redis-password-6a7b8c9d")
	report, code = run("init", "--project-dir", st.Dir, "--project-name", st.Name, "--out", filepath.Join(dir, "wrong"), "--generate-age-key", filepath.Join(dir, "k2"))
	if code != 0 || strings.Count(report, "login with the value found: not confirmed (") != 2 || strings.Contains(report, "confirmed by login") {
		t.Errorf("init with rejected values exited %d, want both servers not confirmed:\n%s", code, report)
	}

	// The same project under a name nothing runs as.
	report, code = run("init", "--project-dir", st.Dir, "--project-name", st.Name+"-stopped", "--out", filepath.Join(dir, "stopped"), "--generate-age-key", filepath.Join(dir, "k3"))
	if code != 0 || strings.Count(report, "login with the value found: not checked (stack not running)") != 2 {
		t.Errorf("init on a stopped stack exited %d, want both servers not checked:\n%s", code, report)
	}
}

// runNoLeak runs the CLI and fails the test if its output holds one of the values.
func runNoLeak(t *testing.T, values *[]string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(rekeyBin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	for _, v := range *values {
		if strings.Contains(so.String()+se.String(), v) {
			t.Errorf("rekey %s printed a value", args[0])
		}
	}
	return so.String() + se.String(), code
}

// TestInitConfirmsMariaDBAndSuperuser: the two other shapes init proposes, on real servers. A MariaDB
// user the image made with the app's password gets the two-password chain, and an app logging in as the
// PostgreSQL superuser the image made gets a single role with strategy swap; both are confirmed by login,
// plan in sync, and rotate through the proposed servers.
func TestInitConfirmsMariaDBAndSuperuser(t *testing.T) {
	testenv.RequireImages(t)
	st := testenv.NewStack(t, filepath.Join("testdata", "init-servers"))
	st.Up(t)
	env := st.DotEnv(t)
	values := []string{env["SITE_DB_PASSWORD"], env["PG_PASSWORD"], env["MARIADB_ROOT_PASSWORD"]}
	dir := t.TempDir()
	out, key, state := filepath.Join(dir, "repo"), filepath.Join(dir, "age-key.txt"), filepath.Join(dir, "state")
	report, code := runNoLeak(t, &values, "init", "--project-dir", st.Dir, "--project-name", st.Name, "--out", out, "--generate-age-key", key)
	if code != 0 {
		t.Fatalf("init exited %d\n%s", code, report)
	}
	for _, want := range []string{"server: mariadb (mariadb, service mariadb, user wp)", "server: pg (postgres, service pg, user postgres)"} {
		if !strings.Contains(report, want) {
			t.Errorf("the report lacks %q:\n%s", want, report)
		}
	}
	if n := strings.Count(report, "login with the value found: confirmed by login"); n != 2 {
		t.Errorf("%d servers confirmed by login, want 2:\n%s", n, report)
	}
	yml, _ := os.ReadFile(filepath.Join(out, "rekey.yaml"))
	for _, want := range []string{"    chain: true\n    admin: {user: root}\n", "    single: true\n    admin: {user: postgres}\n", "    strategy: swap\n"} {
		if !strings.Contains(string(yml), want) {
			t.Errorf("rekey.yaml lacks %q:\n%s", want, yml)
		}
	}
	gitCommit(t, out)
	common := []string{"--repo", out, "--age-key-file", key, "--state-dir", state}
	if plan, code := runNoLeak(t, &values, append([]string{"plan"}, common...)...); code != 0 || strings.Contains(plan, "rotate ") {
		t.Fatalf("plan exited %d, want everything in sync:\n%s", code, plan)
	}
	for _, secret := range []string{"site-db-password", "pg-password"} {
		if so, code := runNoLeak(t, &values, append([]string{"rotate", secret}, common...)...); code != 0 {
			t.Fatalf("rotate %s on init's proposal exited %d:\n%s", secret, code, so)
		}
	}
}

func gitCommit(t *testing.T, dir string) {
	t.Helper()
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"commit", "-q", "-m", "rekey init"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "GIT_AUTHOR_NAME=Ops", "GIT_AUTHOR_EMAIL=ops@example.invalid",
			"GIT_COMMITTER_NAME=Ops", "GIT_COMMITTER_EMAIL=ops@example.invalid"}
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, b)
		}
	}
}
