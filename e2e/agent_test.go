package e2e

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/internal/testenv"
)

// syncBuffer is a process's output: written by the process's copier, read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startAgent runs `rekey agent` in the background and stops it (SIGTERM) when the test ends, checking it
// exits cleanly.
func (r *rig) startAgent(repo string, extra ...string) *syncBuffer {
	r.t.Helper()
	args := append([]string{"agent", "--repo", repo, "--state-dir", r.stateDir, "--age-key-file", r.keyFile,
		"--interval", "1h", "--bootstrap"}, extra...)
	cmd := exec.Command(rekeyBin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	log := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			r.t.Errorf("agent did not stop cleanly: %v\n%s", err, log.String())
		}
		r.checkNoLeak(result{stderr: log.String()})
	})
	return log
}

// waitRotated polls the containers until both run value, and returns how long it took. Containers
// come and go while the agent rolls them, so a failed read is just another poll.
func (r *rig) waitRotated(value string, within time.Duration) time.Duration {
	r.t.Helper()
	start := time.Now()
	want := `"session_key":"` + testenv.Fingerprint(value) + `"`
	for time.Since(start) < within {
		app, err1 := r.probe("app", "http://127.0.0.1:8080/fingerprint")
		worker, err2 := r.probe("worker", "http://127.0.0.1:8081/fingerprint")
		if err1 == nil && err2 == nil && strings.Contains(app, want) && strings.Contains(worker, want) &&
			strings.Contains(app, `"session_key_previous":""`) {
			return time.Since(start)
		}
		time.Sleep(200 * time.Millisecond)
	}
	r.t.Fatalf("containers did not reach the new value within %s", within)
	return 0
}

// probe asks a service's running container for a URL through the demo app's probe mode.
func (r *rig) probe(service, url string) (string, error) {
	cmd := exec.Command("docker", "compose", "-p", r.stack.Name, "--project-directory", r.stack.Dir,
		"exec", "-T", service, "/demoapp", "probe", url)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	out, err := cmd.Output()
	return string(out), err
}

// idle waits until the agent has finished a run, so that what the test does next is what triggers the
// following one.
func (r *rig) idle() {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res := r.rekey("reconcile")
		switch {
		case res.code == 0:
			return
		case strings.Contains(res.stderr, "no agent is running") && time.Now().Before(deadline):
			time.Sleep(100 * time.Millisecond) // still starting
		default:
			r.t.Fatalf("rekey reconcile exited %d:\n%s\n%s", res.code, res.stdout, res.stderr)
		}
	}
}

// TestAgentFollowsLocalCommits: the agent watches a local repository; a commit rotates the stack, and
// `rekey reconcile` asks the running agent for a run and reports it.
func TestAgentFollowsLocalCommits(t *testing.T) {
	r := newRig(t, "0s")
	log := r.startAgent(r.repo)
	r.idle()
	r.values["session-key"] = "committed-while-the-agent-watches-0123456789"
	r.commitValues("rotate under the agent")
	took := r.waitRotated(r.values["session-key"], 2*time.Minute)
	t.Logf("commit → rotated and previous dropped, through fsnotify: %s", took.Round(10*time.Millisecond))

	res := r.rekeyOpts(nil, "reconcile")
	if res.code != 0 || !strings.Contains(res.stdout, "session-key      in-sync") {
		t.Fatalf("rekey reconcile exited %d:\n%s\n%s\nagent log:\n%s", res.code, res.stdout, res.stderr, log)
	}
}

// TestAgentRotatesOnWebhook: the agent tracks a remote (file://) and sleeps for an hour between polls; a
// signed push webhook makes it fetch and rotate, a badly signed one is refused.
func TestAgentRotatesOnWebhook(t *testing.T) {
	r := newRig(t, "0s")
	secret := "webhook-shared-secret-for-the-test"
	secretFile := filepath.Join(t.TempDir(), "hook.secret")
	writeFile(t, secretFile, secret+"\n")
	addr := freeAddr(t)
	r.startAgent("file://"+r.repo, "--ref", "main", "--webhook-addr", addr, "--webhook-secret-file", secretFile)
	waitListening(t, addr)
	r.idle()

	old := r.values["session-key"]
	r.values["session-key"] = "pushed-and-announced-by-webhook-0123456789"
	r.commitValues("rotate by push")
	sha := r.git("rev-parse", "HEAD")
	body := []byte(fmt.Sprintf(`{"ref":"refs/heads/main","after":%q,"head_commit":{"message":"rotate by push"}}`, sha))

	if code := postHook(t, addr, body, "not-the-secret"); code != http.StatusUnauthorized {
		t.Fatalf("badly signed webhook: status %d, want 401", code)
	}
	time.Sleep(2 * time.Second)
	if app, _ := r.fingerprints(); app["session_key"] != testenv.Fingerprint(old) {
		t.Fatal("a badly signed webhook triggered a rotation")
	}

	start := time.Now()
	if code := postHook(t, addr, body, secret); code != http.StatusAccepted {
		t.Fatalf("signed webhook: status %d, want 202", code)
	}
	r.waitRotated(r.values["session-key"], 2*time.Minute)
	t.Logf("webhook → rotated and previous dropped: %s", time.Since(start).Round(10*time.Millisecond))
}

func postHook(t *testing.T, addr string, body []byte, secret string) int {
	t.Helper()
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/hooks/github", bytes.NewReader(body))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}

// TestAgentHoldsAValueThatRolledBack: a committed value that fails verification rolls back once; the agent
// does not roll it out again at every interval (each attempt restarts consumers), until a new commit.
func TestAgentHoldsAValueThatRolledBack(t *testing.T) {
	r := newRig(t, "0s")
	r.startAgent(r.repo, "--interval", "1s")
	r.idle()
	r.values["session-key"] = "short-key" // under 16 bytes: the app refuses it
	r.commitValues("a key the app refuses")
	deadline := time.Now().Add(time.Minute)
	for {
		res := r.rekey("reconcile")
		if strings.Contains(res.stdout, "session-key      held") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never held:\n%s\n%s", res.stdout, res.stderr)
		}
		time.Sleep(500 * time.Millisecond)
	}
	ids := r.ids()
	time.Sleep(4 * time.Second) // four intervals
	if after := r.ids(); after["app"] != ids["app"] || after["worker"] != ids["worker"] {
		t.Fatal("the agent rolled the refused value out again")
	}
	good := "a-good-key-after-the-bad-one-0123456789"
	r.values["session-key"] = good
	r.commitValues("a good key")
	r.waitRotated(good, time.Minute)
}

// TestAgentRefusesAnEmptyStateDir: the guards live in the journal; an agent does not silently start over
// on a missing state dir.
func TestAgentRefusesAnEmptyStateDir(t *testing.T) {
	state := filepath.Join(t.TempDir(), "gone")
	out, err := exec.Command(rekeyBin, "agent", "--repo", t.TempDir(), "--state-dir", state).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "has no journal") {
		t.Fatalf("agent on an empty state dir: %v\n%s", err, out)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Error("the refused agent created the state dir")
	}
}

// TestAgentIsolatesAnInvalidSecret: one secret with a bad declaration does not block the rotation of the
// others under the agent (rekey apply, run by hand, still refuses the whole bad input).
func TestAgentIsolatesAnInvalidSecret(t *testing.T) {
	r := newRig(t, "0s")
	r.config += "  broken:\n    type: token\n    env: {value: NOT_USED_ANYWHERE}\n"
	writeFile(t, filepath.Join(r.repo, "rekey.yaml"), r.config)
	r.values["broken"] = "a-value-for-the-broken-secret"
	good := "rotated-next-to-a-broken-secret-0123456789"
	r.values["session-key"] = good
	r.commitValues("a good rotation next to a bad declaration")
	if res := r.rekey("apply"); res.code != 1 || !strings.Contains(res.stderr, "NOT_USED_ANYWHERE") {
		t.Fatalf("rekey apply must refuse the bad input: exit %d\n%s", res.code, res.stderr)
	}
	log := r.startAgent(r.repo)
	r.waitRotated(good, 2*time.Minute)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(log.String(), "secret skipped") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(log.String(), "secret skipped") || !strings.Contains(log.String(), "secret=broken") {
		t.Errorf("the agent log does not say which secret was skipped:\n%s", log.String())
	}
}
