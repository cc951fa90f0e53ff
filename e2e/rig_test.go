package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/rekeyhq/rekey/internal/testenv"
	"github.com/rekeyhq/rekey/sopsio"
)

// rekeyBin is the CLI under test, built once by TestMain.
var rekeyBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rekey-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	rekeyBin = filepath.Join(dir, "rekey")
	// Static, as it ships: the same binary also runs in a FROM-scratch image (container_test.go).
	build := exec.Command("go", "build", "-o", rekeyBin, "../cmd/rekey")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "failed to build rekey:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// rig is one demo stack, its desired-state repository and rekey's state dir.
type rig struct {
	t        *testing.T
	stack    *testenv.Stack
	repo     string
	stateDir string
	keyFile  string
	id       *age.X25519Identity
	values   map[string]string
	config   string
}

const demoSecrets = `secrets:
  session-key:
    type: app-key
    env: {current: SESSION_SECRET, previous: SESSION_SECRET_PREVIOUS}
    keep_previous: %s
  webhook-token:
    type: token
    file: secrets/webhook_token.txt
`

// newRig brings the demo stack up and commits a desired state equal to what runs.
func newRig(t *testing.T, keepPrevious string) *rig {
	t.Helper()
	testenv.RequireImages(t)
	st := testenv.NewStack(t, testenv.DemoStackDir(t))
	st.Up(t)
	return demoRig(t, st, keepPrevious, "")
}

// demoRig commits, for a running demo stack, the demo's desired state (session key, webhook token) equal
// to what runs, with extraVerify appended to the top-level checks.
func demoRig(t *testing.T, st *testenv.Stack, keepPrevious, extraVerify string) *rig {
	t.Helper()
	env := st.DotEnv(t)
	values := map[string]string{
		"session-key":   env["SESSION_SECRET"],
		"webhook-token": st.ReadFile(t, "secrets/webhook_token.txt"),
	}
	config := fmt.Sprintf(`version: 1
compose: {project_dir: %s, project_name: %s}
values: secrets.sops.yaml
health_timeout: 30s
verify:
  - http: {url: "http://127.0.0.1:%d/healthz", status: 200}
  - logs: {deny: ["invalid signature", "too short"]}
`, st.Dir, st.Name, st.AppPort) + extraVerify + fmt.Sprintf(demoSecrets, keepPrevious)
	return newRigFor(t, st, config, values)
}

// newRigFor gives a running stack a desired-state repository with config and values, committed.
func newRigFor(t *testing.T, st *testenv.Stack, config string, values map[string]string) *rig {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, stack: st, repo: t.TempDir(), stateDir: filepath.Join(t.TempDir(), "state"), id: id,
		values: values, config: config}
	r.keyFile = filepath.Join(t.TempDir(), "keys.txt")
	writeFile(t, r.keyFile, "# test-only key\n"+id.String()+"\n")
	writeFile(t, filepath.Join(r.repo, "rekey.yaml"), r.config)
	writeFile(t, filepath.Join(r.repo, ".sops.yaml"),
		"creation_rules:\n  - path_regex: secrets\\.sops\\.yaml$\n    age: "+id.Recipient().String()+"\n")
	r.git("init", "-q", "-b", "main")
	r.commitValues("initial desired state")
	return r
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (r *rig) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.repo
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + r.repo,
		"GIT_AUTHOR_NAME=Ops", "GIT_AUTHOR_EMAIL=ops@example.invalid",
		"GIT_COMMITTER_NAME=Ops", "GIT_COMMITTER_EMAIL=ops@example.invalid"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// commitValues encrypts r.values with real sops/age and commits them with rekey.yaml.
func (r *rig) commitValues(msg string) {
	r.t.Helper()
	var b strings.Builder
	keys := make([]string, 0, len(r.values))
	for k := range r.values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, _ := json.Marshal(r.values[k])
		fmt.Fprintf(&b, "%s: %s\n", k, v)
	}
	enc, err := sopsio.Encrypt([]byte(b.String()), sopsio.FormatYAML, []string{r.id.Recipient().String()})
	if err != nil {
		r.t.Fatal(err)
	}
	writeFile(r.t, filepath.Join(r.repo, "secrets.sops.yaml"), string(enc))
	r.git("add", "-A")
	r.git("commit", "-q", "-m", msg)
}

// result is one run of the CLI.
type result struct {
	stdout, stderr string
	code           int
	killed         bool
}

func (r *rig) rekey(args ...string) result {
	r.t.Helper()
	return r.rekeyOpts(nil, args...)
}

func (r *rig) rekeyOpts(extra []string, args ...string) result {
	r.t.Helper()
	return r.rekeyEnv(nil, extra, args...)
}

// rekeyEnv runs the CLI on the rig with extra flags after the rig's, and env added to its minimal
// environment (PATH, HOME).
func (r *rig) rekeyEnv(env, extra []string, args ...string) result {
	r.t.Helper()
	full := append(args, "--repo", r.repo, "--state-dir", r.stateDir, "--age-key-file", r.keyFile)
	full = append(full, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, rekeyBin, full...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		res.code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			res.killed = true
		}
	} else if err != nil {
		r.t.Fatalf("rekey %v: %v", args, err)
	}
	r.checkNoLeak(res)
	return res
}

// checkNoLeak fails the test if any secret value, old or new, shows in rekey's output.
func (r *rig) checkNoLeak(res result) {
	r.t.Helper()
	for name, v := range r.values {
		if len(v) >= 4 && (strings.Contains(res.stdout, v) || strings.Contains(res.stderr, v)) {
			r.t.Errorf("rekey output contains the value of %s", name)
		}
	}
}

func (r *rig) mustApply() result {
	r.t.Helper()
	res := r.rekey("apply")
	if res.code != 0 {
		r.t.Fatalf("rekey apply exited %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	return res
}

// ids returns the container ID of each demo service.
func (r *rig) ids() map[string]string {
	ids := map[string]string{}
	for _, s := range []string{"redis", "app", "worker"} {
		ids[s] = r.stack.ContainerID(r.t, s)
	}
	return ids
}

func (r *rig) startedAt(service string) string {
	r.t.Helper()
	out, err := exec.Command("docker", "inspect", "-f", "{{.State.StartedAt}}", r.stack.ContainerID(r.t, service)).Output()
	if err != nil {
		r.t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// fingerprints reads what the running containers say they loaded.
func (r *rig) fingerprints() (app, worker map[string]string) {
	return r.stack.Fingerprint(r.t, "app"), r.stack.Fingerprint(r.t, "worker")
}

// status runs `rekey status --output json`.
func (r *rig) status() map[string]any {
	r.t.Helper()
	res := r.rekey("status", "--output", "json")
	if res.code != 0 {
		r.t.Fatalf("status exited %d: %s", res.code, res.stderr)
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(res.stdout), &out); err != nil {
		r.t.Fatalf("status output: %v\n%s", err, res.stdout)
	}
	return out
}
