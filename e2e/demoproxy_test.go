package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/internal/testenv"
)

// The demo stack as it ships (examples/demo): Caddy in front of the app, the only published port, so the
// app rolls start-first; Caddy's /admin/* basic auth reads a users file rekey derives from admin-password.

// demoAdminPassword is the demo's admin password (DEMO ONLY, public): examples/demo/stack/caddy/users
// holds its bcrypt hash, examples/demo/repo/secrets.sops.yaml the value.
const demoAdminPassword = "demo-only-admin-password-7a3f9c21"

// demoRepoRig brings the demo stack up with the demo's own desired-state repository (rekey.yaml and the
// SOPS values encrypted to the demo key), as scripts/demo.sh does.
func demoRepoRig(t *testing.T) *rig {
	t.Helper()
	return demoRepoRigWith(t, "")
}

// demoRepoRigWith is demoRepoRig with the files of overlay (a directory of examples/demo) copied over the
// stack before it starts: a variant of the demo stack, e.g. its Redis in the aclfile layout.
func demoRepoRigWith(t *testing.T, overlay string) *rig {
	t.Helper()
	testenv.RequireImages(t)
	st := testenv.NewStack(t, testenv.DemoStackDir(t))
	if overlay != "" {
		src := filepath.Join(testenv.RepoRoot(t), "examples", "demo", overlay) + "/."
		if out, err := exec.Command("cp", "-a", src, st.Dir).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v: %s", err, out)
		}
	}
	st.Up(t)
	root := testenv.RepoRoot(t)
	repo := t.TempDir()
	if out, err := exec.Command("cp", "-a", filepath.Join(root, "examples", "demo", "repo")+"/.", repo).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	cfg, err := os.ReadFile(filepath.Join(repo, "rekey.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	config := strings.NewReplacer("__PROJECT_DIR__", st.Dir, "__PROJECT_NAME__", st.Name,
		"__APP_PORT__", fmt.Sprint(st.AppPort)).Replace(string(cfg))
	writeFile(t, filepath.Join(repo, "rekey.yaml"), config)
	r := &rig{t: t, stack: st, repo: repo, stateDir: filepath.Join(t.TempDir(), "state"), config: config,
		keyFile: filepath.Join(root, "examples", "demo", "demo-age-key.txt"),
		values:  map[string]string{"admin-password": demoAdminPassword}}
	r.git("init", "-q", "-b", "main")
	r.git("add", "-A")
	r.git("commit", "-qm", "the demo's desired state")
	return r
}

// setDemoValue encrypts a new value of secret with `rekey values set` and commits it.
func (r *rig) setDemoValue(secret, value string) {
	r.t.Helper()
	cmd := exec.Command(rekeyBin, "values", "set", "--repo", r.repo, "--age-key-file", r.keyFile, secret)
	cmd.Stdin = strings.NewReader(value)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	if out, err := cmd.CombinedOutput(); err != nil {
		r.t.Fatalf("values set %s: %v\n%s", secret, err, out)
	}
	r.values[secret] = value
	r.git("commit", "-qam", "rotate "+secret)
}

// adminStatus is the status Caddy answers GET /admin/healthz with, with basic auth when pw is not "".
func adminStatus(t *testing.T, port int, pw string) int {
	t.Helper()
	return basicAuthStatus(t, fmt.Sprintf("http://127.0.0.1:%d/admin/healthz", port), pw)
}

// basicAuthStatus is the status a GET of url is answered with, as user admin with password pw (no
// authorization when pw is ""), retried while the proxy is not listening.
func basicAuthStatus(t *testing.T, url, pw string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if pw != "" {
		req.SetBasicAuth("admin", pw)
	}
	for i := 0; ; i++ {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err == nil {
			resp.Body.Close()
			return resp.StatusCode
		}
		if i == 20 {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestDemoStackBehindProxy runs the demo's own rekey.yaml on the demo stack: everything in sync on the
// first plan (the users file's bcrypt hash checked against the value), the session key rotated with the
// app rolled start-first and 0 failed requests through Caddy, then the admin password rotated through
// Caddy's derived users file: the new one logs in, the old one is refused.
func TestDemoStackBehindProxy(t *testing.T) {
	r := demoRepoRig(t)
	if got := adminStatus(t, r.stack.AppPort, ""); got != http.StatusUnauthorized {
		t.Fatalf("/admin/ without a login: status %d, want 401", got)
	}
	if got := adminStatus(t, r.stack.AppPort, demoAdminPassword); got != http.StatusOK {
		t.Fatalf("/admin/ with the demo's password: status %d, want 200", got)
	}
	plan := r.rekey("plan")
	if plan.code != 0 || strings.Count(plan.stdout, "in-sync") < 5 || !strings.Contains(plan.stdout, "caddy/users (derived): form hmac:") {
		t.Fatalf("plan of the demo as it ships (exit %d):\n%s\n%s", plan.code, plan.stdout, plan.stderr)
	}

	r.setDemoValue("session-key", "demo-proxy-session-key-0123456789abcdef")
	if plan := r.rekey("plan"); !strings.Contains(plan.stdout, "recreate app (start-first: no published port") {
		t.Fatalf("plan does not roll the demo app start-first:\n%s", plan.stdout)
	}
	load := startLoad(fmt.Sprintf("http://127.0.0.1:%d/count", r.stack.AppPort), 4)
	time.Sleep(500 * time.Millisecond)
	res := r.rekey("apply")
	time.Sleep(500 * time.Millisecond)
	ok, failed, slowest, firstErr := load.stop()
	t.Logf("session key through Caddy: %d served, %d failed, slowest %s", ok, failed, slowest.Round(time.Millisecond))
	if res.code != 0 || !strings.Contains(res.stderr, "recreate app (start-first") {
		t.Fatalf("apply exited %d, or did not roll app start-first:\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if failed != 0 || ok < 50 {
		t.Errorf("through Caddy: %d served, %d failed (first: %s), want 0 failed", ok, failed, firstErr)
	}
	if app := r.stack.Fingerprint(t, "app"); app["session_key"] != testenv.Fingerprint(r.values["session-key"]) {
		t.Errorf("the app reports %v, want the new key", app)
	}
	assertUpRecreatesNothing(t, r)

	r.setDemoValue("admin-password", "n3w-demo-admin:pw/ä")
	if res := r.rekey("apply"); res.code != 0 || !strings.Contains(res.stderr+res.stdout, "restart proxy") {
		t.Fatalf("admin-password: apply exited %d, or did not restart the proxy:\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if got := adminStatus(t, r.stack.AppPort, r.values["admin-password"]); got != http.StatusOK {
		t.Errorf("the new admin password: status %d, want 200", got)
	}
	if got := adminStatus(t, r.stack.AppPort, demoAdminPassword); got != http.StatusUnauthorized {
		t.Errorf("the old admin password: status %d, want 401", got)
	}
	if d := r.rekey("drift"); d.code != 0 {
		t.Errorf("drift after the rotations exited %d:\n%s\n%s", d.code, d.stdout, d.stderr)
	}
}
