package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/internal/testenv"
)

// proxyLoad is a steady request load through the proxy: a few clients in a loop, each request counted
// as served (200) or failed (any other status, a transport error, or more than 5 s).
type proxyLoad struct {
	ok, failed atomic.Int64
	slowest    atomic.Int64 // nanoseconds
	firstErr   atomic.Value
	cancel     context.CancelFunc
	wg         sync.WaitGroup
}

func startLoad(url string, clients int) *proxyLoad {
	ctx, cancel := context.WithCancel(context.Background())
	l := &proxyLoad{cancel: cancel}
	client := &http.Client{Timeout: 5 * time.Second}
	for range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for ctx.Err() == nil {
				l.one(ctx, client, url)
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	return l
}

func (l *proxyLoad) one(ctx context.Context, client *http.Client, url string) {
	start := time.Now()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := client.Do(req)
	if ctx.Err() != nil {
		return // stopped mid-request: not a failure of the stack
	}
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %s", resp.Status)
		}
	}
	took := int64(time.Since(start))
	for cur := l.slowest.Load(); took > cur && !l.slowest.CompareAndSwap(cur, took); cur = l.slowest.Load() {
		// another client stored a larger or smaller value meanwhile: look again
	}
	if err != nil {
		l.failed.Add(1)
		l.firstErr.CompareAndSwap(nil, err.Error())
		return
	}
	l.ok.Add(1)
}

// stop ends the load and returns the counts.
func (l *proxyLoad) stop() (ok, failed int64, slowest time.Duration, firstErr string) {
	l.cancel()
	l.wg.Wait()
	e, _ := l.firstErr.Load().(string)
	return l.ok.Load(), l.failed.Load(), time.Duration(l.slowest.Load()), e
}

// proxyRig brings up the app behind Caddy and commits the session key as running, with a check through
// the proxy. services is appended to rekey.yaml (services: strategies).
func proxyRig(t *testing.T, override string) *rig {
	t.Helper()
	testenv.RequireImages(t, "rekey-demo/app:dev", "rekey-demo/caddy:dev")
	st := testenv.NewStack(t, filepath.Join(testenv.RepoRoot(t), "e2e", "testdata", "startfirst"))
	if override != "" {
		writeFile(t, filepath.Join(st.Dir, "compose.override.yaml"), override)
	}
	st.Up(t)
	config := fmt.Sprintf(`version: 1
compose: {project_dir: %s, project_name: %s}
values: secrets.sops.yaml
health_timeout: 30s
verify:
  - http: {url: "http://127.0.0.1:%d/healthz", status: 200}
secrets:
  session-key:
    type: app-key
    env: {current: SESSION_SECRET, previous: SESSION_SECRET_PREVIOUS}
    keep_previous: 0s
`, st.Dir, st.Name, st.AppPort)
	r := newRigFor(t, st, config, map[string]string{"session-key": st.DotEnv(t)["SESSION_SECRET"]})
	r.waitProxy()
	return r
}

// waitProxy waits until the proxy serves the app.
func (r *rig) waitProxy() {
	r.t.Helper()
	url := fmt.Sprintf("http://127.0.0.1:%d/healthz", r.stack.AppPort)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("the proxy does not serve the app: %v", err)
		}
	}
}

// setServices rewrites the services: section of rekey.yaml (committed with the next values).
func (r *rig) setServices(services string) {
	r.t.Helper()
	base, _, _ := strings.Cut(r.config, "services:\n")
	r.config = base + services
	writeFile(r.t, filepath.Join(r.repo, "rekey.yaml"), r.config)
}

// rotateUnderLoad commits a new session key and applies it with a load running through the proxy.
func (r *rig) rotateUnderLoad(value string) (res result, ok, failed int64, slowest time.Duration, firstErr string) {
	r.t.Helper()
	r.values["session-key"] = value
	r.commitValues("rotate the session key")
	load := startLoad(fmt.Sprintf("http://127.0.0.1:%d/fingerprint", r.stack.AppPort), 4)
	time.Sleep(500 * time.Millisecond) // the load is steady before the roll starts
	res = r.rekey("apply")
	time.Sleep(500 * time.Millisecond)
	ok, failed, slowest, firstErr = load.stop()
	return res, ok, failed, slowest, firstErr
}

// TestStartFirstBehindProxy rotates the app key with a load through Caddy: start-first (chosen by rekey:
// the app publishes no port) loses no request, the container is replaced, and Compose agrees with the
// result; the stop-first baseline, measured in the same test on the same stack, loses requests or holds
// them for the length of its gap.
func TestStartFirstBehindProxy(t *testing.T) {
	r := proxyRig(t, "")
	r.mustApply()
	before := r.stack.ContainerID(t, "app")
	proxyID := r.stack.ContainerID(t, "proxy")

	r.values["session-key"] = "start-first-session-key-0123456789"
	r.commitValues("plan only")
	plan := r.rekey("plan")
	if !strings.Contains(plan.stdout, "recreate app (start-first: no published port") {
		t.Fatalf("plan does not roll app start-first:\n%s", plan.stdout)
	}

	res, ok, failed, slowest, firstErr := r.rotateUnderLoad("start-first-session-key-0123456789")
	startSlowest := slowest
	t.Logf("start-first: %d served, %d failed, slowest %s", ok, failed, slowest.Round(time.Millisecond))
	if res.code != 0 {
		t.Fatalf("apply exited %d:\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if failed != 0 || ok < 50 {
		t.Errorf("start-first through the proxy: %d served, %d failed (first: %s), want 0 failed", ok, failed, firstErr)
	}
	if !strings.Contains(res.stderr, "recreate app (start-first") {
		t.Errorf("apply does not report the strategy:\n%s", res.stderr)
	}
	after := r.stack.ContainerID(t, "app") // fails unless exactly one app container remains
	if after == before {
		t.Error("the app container was not replaced")
	}
	if fp := r.stack.Compose(t, "exec", "-T", "app", "/demoapp", "probe", "http://127.0.0.1:8080/fingerprint"); !strings.Contains(fp, testenv.Fingerprint("start-first-session-key-0123456789")) {
		t.Errorf("the app does not run the new key: %s", fp)
	}
	// Compose sees its own container: `up -d` recreates nothing, ps lists one container per service.
	r.stack.Compose(t, "up", "-d", "--wait")
	if r.stack.ContainerID(t, "app") != after || r.stack.ContainerID(t, "proxy") != proxyID {
		t.Error("docker compose up -d recreated a container after the start-first roll")
	}
	if ps := strings.Fields(r.stack.Compose(t, "ps", "--all", "--quiet")); len(ps) != 2 {
		t.Errorf("docker compose ps lists %d containers, want 2: %v", len(ps), ps)
	}

	// Baseline: the same rotation, stop-first, on the same stack.
	r.setServices("services:\n  app: {strategy: stop-first}\n")
	res, ok, failed, slowest, _ = r.rotateUnderLoad("stop-first-session-key-0123456789ab")
	t.Logf("stop-first: %d served, %d failed, slowest %s", ok, failed, slowest.Round(time.Millisecond))
	if res.code != 0 {
		t.Fatalf("apply exited %d:\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if !strings.Contains(res.stderr, "recreate app (stop-first: declared in rekey.yaml)") {
		t.Errorf("apply does not report the declared strategy:\n%s", res.stderr)
	}
	// The proxy retries for 500 ms, about as long as a stop-first recreate of this app leaves no container:
	// the gap shows as failed requests, or as requests held for its length, never as nothing.
	if failed == 0 && (slowest < 300*time.Millisecond || slowest < 4*startSlowest) {
		t.Errorf("stop-first baseline: %d served, 0 failed, slowest %s (start-first %s): the measurement cannot tell the strategies apart",
			ok, slowest, startSlowest)
	}
}

// TestStartFirstUnhealthyKeepsOld: a new key the app refuses (too short: the new container exits) rolls
// back with the old container never touched — same ID — and no request lost.
func TestStartFirstUnhealthyKeepsOld(t *testing.T) {
	r := proxyRig(t, "")
	r.mustApply()
	before := r.stack.ContainerID(t, "app")
	res, ok, failed, _, firstErr := r.rotateUnderLoad("too-short")
	if res.code == 0 || !strings.Contains(res.stdout+res.stderr, "rolled back") {
		t.Fatalf("apply should roll back, exited %d:\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if !strings.Contains(res.stderr, "did not become healthy") {
		t.Errorf("apply does not say why:\n%s", res.stderr)
	}
	if after := r.stack.ContainerID(t, "app"); after != before {
		t.Errorf("the old container was replaced (%s → %s); it should keep serving untouched", before, after)
	}
	if failed != 0 || ok < 20 {
		t.Errorf("%d served, %d failed (first: %s), want 0 failed", ok, failed, firstErr)
	}
}

// TestStartFirstFallsBackOnPublishedPort: an app that publishes a host port (the demo's app did before
// Caddy stood in front of it; here it publishes one more, on a free port) is rolled stop-first, and plan
// says why.
func TestStartFirstFallsBackOnPublishedPort(t *testing.T) {
	r := newRig(t, "0s")
	compose := filepath.Join(r.stack.Dir, "compose.yaml")
	text, err := os.ReadFile(compose)
	if err != nil {
		t.Fatal(err)
	}
	// A fixed host port: two containers cannot both bind it (an ephemeral one, "127.0.0.1::8080", they can).
	port := fmt.Sprintf("    ports: [\"127.0.0.1:%d:8080\"]\n", testenv.FreePort(t))
	published := strings.Replace(string(text), "\n  app:\n", "\n  app:\n"+port, 1)
	if published == string(text) {
		t.Fatal("no app service in the demo's compose.yaml")
	}
	if err := os.WriteFile(compose, []byte(published), 0o644); err != nil {
		t.Fatal(err)
	}
	r.values["session-key"] = newSession
	r.commitValues("rotate")
	plan := r.rekey("plan")
	if !strings.Contains(plan.stdout, "recreate app (stop-first: publishes host port") {
		t.Fatalf("plan should roll app stop-first for its published port:\n%s", plan.stdout)
	}
	if !strings.Contains(plan.stdout, "recreate worker (start-first") {
		t.Errorf("plan should roll the worker (no port) start-first:\n%s", plan.stdout)
	}
}

// TestStartFirstReplicas: with deploy.replicas: 2 the replicas are replaced one at a time, no request is
// lost, and Compose finds its two containers afterwards.
func TestStartFirstReplicas(t *testing.T) {
	r := proxyRig(t, "services:\n  app:\n    deploy: {replicas: 2}\n")
	r.mustApply()
	before := strings.Fields(r.stack.Compose(t, "ps", "--quiet", "app"))
	if len(before) != 2 {
		t.Fatalf("app runs %d containers, want 2", len(before))
	}
	res, ok, failed, slowest, firstErr := r.rotateUnderLoad("replicated-session-key-0123456789")
	t.Logf("start-first, 2 replicas: %d served, %d failed, slowest %s", ok, failed, slowest.Round(time.Millisecond))
	if res.code != 0 {
		t.Fatalf("apply exited %d:\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if failed != 0 || ok < 50 {
		t.Errorf("%d served, %d failed (first: %s), want 0 failed", ok, failed, firstErr)
	}
	after := strings.Fields(r.stack.Compose(t, "ps", "--quiet", "app"))
	if len(after) != 2 || after[0] == before[0] || after[0] == before[1] || after[1] == before[0] || after[1] == before[1] {
		t.Errorf("app containers %v → %v, want two new ones", before, after)
	}
	r.stack.Compose(t, "up", "-d", "--wait")
	if again := strings.Fields(r.stack.Compose(t, "ps", "--quiet", "app")); strings.Join(again, " ") != strings.Join(after, " ") {
		t.Errorf("docker compose up -d changed the app containers: %v → %v", after, again)
	}
}

// TestStartFirstKilledBetweenStartAndStop: rekey is killed (SIGKILL) while the new container runs beside
// the old one. The next apply recovers from the journal's roll intent (restores the sources; the roll
// converges: the extra container goes) and rotates again; no request fails throughout, and Compose finds
// one container, its own.
func TestStartFirstKilledBetweenStartAndStop(t *testing.T) {
	r := proxyRig(t, "")
	r.mustApply()
	r.values["session-key"] = "killed-session-key-0123456789abcd"
	r.commitValues("rotate the session key")
	load := startLoad(fmt.Sprintf("http://127.0.0.1:%d/fingerprint", r.stack.AppPort), 4)
	run := r.startRekey("apply")
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if len(strings.Fields(r.stack.Compose(t, "ps", "--quiet", "app"))) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no second app container appeared")
		}
	}
	if err := run.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-run.done
	res := r.rekey("apply")
	time.Sleep(500 * time.Millisecond)
	ok, failed, slowest, firstErr := load.stop()
	t.Logf("kill -9 mid-roll, then apply: %d served, %d failed, slowest %s", ok, failed, slowest.Round(time.Millisecond))
	if res.code != 0 || !strings.Contains(res.stdout, "recovered") {
		t.Fatalf("apply after the kill exited %d, want a recovery then the rotation:\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if failed != 0 {
		t.Errorf("%d served, %d failed (first: %s), want 0 failed", ok, failed, firstErr)
	}
	id := r.stack.ContainerID(t, "app") // exactly one
	if fp := r.stack.Compose(t, "exec", "-T", "app", "/demoapp", "probe", "http://127.0.0.1:8080/fingerprint"); !strings.Contains(fp, testenv.Fingerprint("killed-session-key-0123456789abcd")) {
		t.Errorf("the app does not run the new key: %s", fp)
	}
	r.stack.Compose(t, "up", "-d", "--wait")
	if r.stack.ContainerID(t, "app") != id {
		t.Error("docker compose up -d recreated the app after the recovery")
	}
}
