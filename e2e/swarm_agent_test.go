package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/internal/testenv"
)

// TestSwarmAgentService runs `rekey agent` as a Swarm service from examples/swarm/agent.stack.yaml, as
// examples/swarm/README.md says (a FROM-scratch rekey image, on a manager, the Docker socket, the stack's
// directory, the state dir and a bare repository mounted, its age key and auth files as Swarm secrets),
// next to the two-service app-key stack on a single-node swarm. A signed commit pushed to the bare
// repository and announced by a signed webhook on its published port is rotated by the agent: both
// services' running tasks read the new value from /run/secrets, the old object is removed, `rekey
// reconcile` on the host reports it in sync, the status page and the metrics answer (with basic auth
// only), and the agent's log holds no value and ends with a clean stop.
func TestSwarmAgentService(t *testing.T) {
	r, dir, stack := newSwarmRig(t)
	image := rekeyImage(t)
	keys := t.TempDir()
	signer := sshKey(t, keys, "ops")
	pub, err := os.ReadFile(signer + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	sign := func() {
		t.Helper()
		r.git("-c", "gpg.format=ssh", "-c", "user.signingkey="+signer+".pub", "commit", "-q", "--amend", "--no-edit", "-S")
	}
	sign()
	bare := filepath.Join(t.TempDir(), "secrets.git")
	r.git("clone", "-q", "--bare", r.repo, bare)
	r.mustApply() // a new install: one apply by hand creates the journal (README: on the manager)

	a := deployAgentStack(t, r, image, stack+"ag", dir, bare, keys, string(pub))
	r.idle() // the agent's start run is over: the next run is the webhook's

	old := stack + "_app_key_v1"
	r.values["app-key"] = "rotated-by-the-agent-on-swarm-" + strings.Repeat("s", 24)
	r.commitValues("rotate the app key on the swarm")
	sign()
	r.git("push", "-q", bare, "main")
	sha := r.git("rev-parse", "HEAD")
	body := []byte(fmt.Sprintf(`{"ref":"refs/heads/main","after":%q}`, sha))
	if code := postHook(t, a.hook, body, "not-the-webhook-secret"); code != http.StatusUnauthorized {
		t.Fatalf("badly signed webhook: status %d, want 401", code)
	}
	start := time.Now()
	if code := postHook(t, a.hook, body, a.hookSecret); code != http.StatusAccepted {
		t.Fatalf("signed webhook: status %d, want 202", code)
	}
	want := r.values["app-key"]
	waitFor(t, 3*time.Minute, "both services' tasks on the new value and the old object removed", func() bool {
		return taskValue("api", stack, "app_key") == want && taskValue("worker", stack, "key.txt") == want &&
			!secretObjectExists(t, old)
	})
	t.Logf("webhook → both services rotated and the old object removed, by the agent service: %s",
		time.Since(start).Round(10*time.Millisecond))

	if res := r.rekey("reconcile"); res.code != 0 || !strings.Contains(res.stdout, "app-key") || !strings.Contains(res.stdout, "in-sync") {
		t.Errorf("rekey reconcile on the host exited %d:\n%s%s", res.code, res.stdout, res.stderr)
	}
	a.checkStatus(t, sha)
	a.checkMetrics(t)
	logs := a.stop(t)
	r.checkNoLeak(result{stdout: logs})
	for _, line := range []string{"agent started", "agent stopped"} {
		if !strings.Contains(logs, line) {
			t.Errorf("the agent's log lacks %q:\n%s", line, logs)
		}
	}
}

// agentService is the agent's stack: where its listeners are published and with which credentials.
type agentService struct {
	stack, service                  string
	hook, status, metrics           string // 127.0.0.1:PORT, published in host mode
	hookSecret, statusAuth, metAuth string
}

// deployAgentStack deploys examples/swarm/agent.stack.yaml with the rig's paths and waits until the
// status page answers on its published port.
func deployAgentStack(t *testing.T, r *rig, image, name, dir, bare, keys, trusted string) *agentService {
	t.Helper()
	a := &agentService{stack: name, service: name + "_agent", hook: freeAddr(t), status: freeAddr(t), metrics: freeAddr(t),
		hookSecret: "swarm-webhook-secret-0123456789", statusAuth: "ops:status-password-0123", metAuth: "prom:metrics-password-0123"}
	files := map[string]string{"webhook.secret": a.hookSecret + "\n", "status.auth": a.statusAuth + "\n",
		"metrics.auth": a.metAuth + "\n", "trusted-signers": trusted}
	for f, body := range files {
		writeFile(t, filepath.Join(keys, f), body)
	}
	port := func(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }
	env := append(os.Environ(), "REKEY_IMAGE="+image, "REKEY_REPO=file://"+bare, "REKEY_REPO_DIR="+bare,
		"REKEY_PROJECT_DIR="+dir, "REKEY_STATE_DIR="+r.stateDir,
		"REKEY_INTERVAL=1h", "REKEY_AGE_KEY_FILE="+r.keyFile,
		"REKEY_WEBHOOK_SECRET_FILE="+filepath.Join(keys, "webhook.secret"),
		"REKEY_STATUS_AUTH_FILE="+filepath.Join(keys, "status.auth"),
		"REKEY_METRICS_AUTH_FILE="+filepath.Join(keys, "metrics.auth"),
		"REKEY_TRUSTED_SIGNERS_FILE="+filepath.Join(keys, "trusted-signers"),
		"REKEY_WEBHOOK_PORT="+port(a.hook), "REKEY_STATUS_PORT="+port(a.status), "REKEY_METRICS_PORT="+port(a.metrics))
	file := filepath.Join(testenv.RepoRoot(t), "examples", "swarm", "agent.stack.yaml")
	pkgRun(t, 2*time.Minute, "", env, "docker", "stack", "deploy", "--resolve-image", "never", "-c", file, name)
	t.Cleanup(func() { a.remove(t) })
	waitFor(t, 2*time.Minute, "the agent's status page on its published port", func() bool {
		code, _ := a.get("http://"+a.status+"/", a.statusAuth)
		return code == http.StatusOK
	})
	return a
}

// get fetches url with basic auth (user:password; "" for none) and returns the status and body.
func (a *agentService) get(url, auth string) (int, string) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if user, pass, ok := strings.Cut(auth, ":"); ok {
		req.SetBasicAuth(user, pass)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}

// checkStatus: the status page requires its credentials, and status.json names the applied commit and
// the secret's rotation.
func (a *agentService) checkStatus(t *testing.T, commit string) {
	t.Helper()
	if code, _ := a.get("http://"+a.status+"/", ""); code != http.StatusUnauthorized {
		t.Errorf("status page without credentials: %d, want 401", code)
	}
	code, body := a.get("http://"+a.status+"/status.json", a.statusAuth)
	var m struct {
		Commit  struct{ Hash string }
		Secrets []struct {
			Name         string
			LastRotation struct{ Outcome string } `json:"last_rotation"`
		}
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &m) != nil {
		t.Fatalf("status.json: %d\n%s", code, body)
	}
	if !strings.HasPrefix(commit, m.Commit.Hash) || m.Commit.Hash == "" {
		t.Errorf("status.json names commit %q, want %s", m.Commit.Hash, commit)
	}
	if len(m.Secrets) != 1 || m.Secrets[0].Name != "app-key" || m.Secrets[0].LastRotation.Outcome != "rotated" {
		t.Errorf("status.json secrets: %+v", m.Secrets)
	}
}

// checkMetrics: the metrics require their credentials and count the rotation.
func (a *agentService) checkMetrics(t *testing.T) {
	t.Helper()
	if code, _ := a.get("http://"+a.metrics+"/metrics", ""); code != http.StatusUnauthorized {
		t.Errorf("metrics without credentials: %d, want 401", code)
	}
	code, body := a.get("http://"+a.metrics+"/metrics", a.metAuth)
	if code != http.StatusOK || !strings.Contains(body, `rekey_rotations_total{outcome="rotated",secret="app-key"}`) {
		t.Errorf("metrics: %d\n%s", code, body)
	}
	if code, _ := a.get("http://"+a.metrics+"/healthz", a.metAuth); code != http.StatusOK {
		t.Errorf("/healthz: %d", code)
	}
}

// stop scales the agent to 0 (SIGTERM through tini) and returns its log once the task has ended.
func (a *agentService) stop(t *testing.T) string {
	t.Helper()
	pkgRun(t, 2*time.Minute, "", nil, "docker", "service", "scale", "--detach", a.service+"=0")
	waitFor(t, 2*time.Minute, "the agent's task to stop", func() bool {
		out, err := exec.Command("docker", "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+a.service).Output()
		return err == nil && strings.TrimSpace(string(out)) == ""
	})
	return pkgRun(t, time.Minute, "", nil, "docker", "service", "logs", "--raw", a.service)
}

// remove takes the agent's stack down and waits for its container to be gone, so that the directories
// it mounts can go.
func (a *agentService) remove(t *testing.T) {
	if t.Failed() {
		out, _ := exec.Command("docker", "service", "logs", "--raw", a.service).CombinedOutput()
		t.Logf("agent service logs:\n%s", out)
	}
	exec.Command("docker", "stack", "rm", a.stack).Run()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		out, err := exec.Command("docker", "ps", "-aq", "--filter", "label=com.docker.stack.namespace="+a.stack).Output()
		if err == nil && strings.TrimSpace(string(out)) == "" {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// taskValue reads /run/secrets/target in the one running task of the stack's service; "" while there is
// not exactly one (a start-first update runs two for a moment) or it cannot be read.
func taskValue(service, stack, target string) string {
	out, err := exec.Command("docker", "service", "ps", "-q", "--filter", "desired-state=running", stack+"_"+service).Output()
	tasks := strings.Fields(string(out))
	if err != nil || len(tasks) != 1 {
		return ""
	}
	ctr, err := exec.Command("docker", "inspect", "--format", "{{.Status.ContainerStatus.ContainerID}}", tasks[0]).Output()
	if err != nil {
		return ""
	}
	val, err := exec.Command("docker", "exec", strings.TrimSpace(string(ctr)), "cat", "/run/secrets/"+target).Output()
	if err != nil {
		return ""
	}
	return string(val)
}
