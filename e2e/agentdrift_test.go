package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/internal/testenv"
)

// alertSink is a loopback receiver for shoutrrr's generic webhook.
type alertSink struct {
	mu     sync.Mutex
	bodies []string
}

func (s *alertSink) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	s.mu.Lock()
	s.bodies = append(s.bodies, string(b))
	s.mu.Unlock()
}

func (s *alertSink) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bodies...)
}

// newAlertRig is a demo stack whose desired state sends alerts to a loopback receiver (shoutrrr's generic
// webhook), applied once.
func newAlertRig(t *testing.T) (*rig, *alertSink) {
	t.Helper()
	r := newRig(t, "0s")
	sink := &alertSink{}
	srv := httptest.NewServer(sink) // 127.0.0.1
	t.Cleanup(srv.Close)
	r.values["alert-url"] = "generic://" + strings.TrimPrefix(srv.URL, "http://") + "/hook?disabletls=yes"
	r.config += "alerts:\n  urls: [alert-url]\n"
	writeFile(t, filepath.Join(r.repo, "rekey.yaml"), r.config)
	r.commitValues("send alerts to the loopback receiver")
	r.mustApply()
	return r, sink
}

// waitFor polls until cond holds.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", within, what)
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAgentDriftAlertsAndMetrics: with scans on the interval turned far out, a secret file edited in place
// is found through fsnotify; the generic-webhook receiver gets exactly one alert per drifted place and one
// recovery each when the file is put back; metrics show the drift and its end; nothing carries a value.
func TestAgentDriftAlertsAndMetrics(t *testing.T) {
	r, sink := newAlertRig(t)

	metricsAddr, statusAddr := freeAddr(t), freeAddr(t)
	log := r.startAgent(r.repo, "--drift-interval", "10m", "--metrics-addr", metricsAddr, "--status-addr", statusAddr)
	waitFor(t, 2*time.Minute, "the agent to be ready", func() bool {
		code, _ := get(t, "http://"+metricsAddr+"/readyz")
		return code == http.StatusOK
	})
	if code, body := get(t, "http://"+metricsAddr+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	if code, page := get(t, "http://"+statusAddr+"/"); code != http.StatusOK || !strings.Contains(page, "webhook-token") ||
		!strings.Contains(page, "session-key") {
		t.Fatalf("status page: %d\n%s", code, page)
	}
	time.Sleep(2 * time.Second) // let the start-up scan and its container events settle
	if got := sink.all(); len(got) != 0 {
		t.Fatalf("alerts on an in-sync stack: %q", got)
	}

	path := filepath.Join(r.stack.Dir, "secrets", "webhook_token.txt")
	edit := func(value string) {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(value); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	edit(handToken)
	waitFor(t, 30*time.Second, "two drift alerts (the file and the app that reads it)", func() bool { return len(sink.all()) >= 2 })
	_, scrape := get(t, "http://"+metricsAddr+"/metrics")
	if !strings.Contains(scrape, `rekey_drift{place="consumer:app",secret="webhook-token",state="source-edited"} 1`) {
		t.Errorf("metrics do not show the app as source-edited:\n%s", grepLines(scrape, "rekey_drift{"))
	}

	statusCode, status := get(t, "http://"+statusAddr+"/status.json")
	if !sourceState(t, status, "webhook-token", path, "source-edited") {
		t.Errorf("status.json (%d) does not show the edited file as source-edited:\n%s", statusCode, status)
	}

	edit(handToken) // the same drift again: a rescan, no new alert
	time.Sleep(3 * time.Second)
	if got := sink.all(); len(got) != 2 {
		t.Fatalf("after a repeat of the same drift: %d alerts, want 2:\n%q", len(got), got)
	}

	edit(r.values["webhook-token"])
	waitFor(t, 30*time.Second, "two recovery notices", func() bool { return len(sink.all()) >= 4 })
	time.Sleep(3 * time.Second)
	got := sink.all()
	t.Logf("first alert:\n%s\nfirst recovery:\n%s", got[0], got[min(2, len(got)-1)])
	if len(got) != 4 {
		t.Fatalf("%d alerts in all, want 2 drift + 2 resolved:\n%q", len(got), got)
	}
	for i, b := range got {
		want := "drift"
		if i >= 2 {
			want = "resolved"
		}
		if !strings.Contains(b, want) || !strings.Contains(b, "webhook-token") {
			t.Errorf("alert %d does not name %q and the secret: %q", i, want, b)
		}
	}
	_, scrape = get(t, "http://"+metricsAddr+"/metrics")
	if strings.Contains(scrape, `state="source-edited"`) {
		t.Errorf("metrics still show drift after the file was put back:\n%s", grepLines(scrape, "rekey_drift{"))
	}
	_, page := get(t, "http://"+statusAddr+"/")
	_, status = get(t, "http://"+statusAddr+"/status.json")
	for _, text := range append(got, scrape, log.String(), page, status) {
		for name, v := range map[string]string{"hand-edited token": handToken, "token": r.values["webhook-token"],
			"session key": r.values["session-key"], "alert URL": r.values["alert-url"]} {
			if strings.Contains(text, v) {
				t.Errorf("the %s shows in an alert, the metrics, the status page or the log", name)
			}
		}
	}
}

func grepLines(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestAgentStaleConsumerHealed: a worker recreated by hand with another key (no file touched) is found
// through the engine's container events and alerted once; committing `drift: {heal: true}` makes the agent
// roll only that worker back to Git's key, and the alert clears.
func TestAgentStaleConsumerHealed(t *testing.T) {
	r, sink := newAlertRig(t)
	metricsAddr := freeAddr(t)
	log := r.startAgent(r.repo, "--drift-interval", "10m", "--metrics-addr", metricsAddr)
	waitFor(t, 2*time.Minute, "the agent to be ready", func() bool {
		code, _ := get(t, "http://"+metricsAddr+"/readyz")
		return code == http.StatusOK
	})
	time.Sleep(2 * time.Second)

	// A hand recreation with the key from the shell: compose prefers it over .env, which stays as it is.
	cmd := exec.Command("docker", "compose", "-p", r.stack.Name, "--project-directory", r.stack.Dir,
		"up", "-d", "--no-deps", "worker")
	cmd.Dir = r.stack.Dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "SESSION_SECRET=" + handSession}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hand recreation: %v\n%s", err, out)
	}
	waitFor(t, 30*time.Second, "a stale-consumer alert", func() bool { return len(sink.all()) >= 1 })
	if got := sink.all(); !strings.Contains(got[0], "stale-consumer") || !strings.Contains(got[0], "worker") {
		t.Fatalf("first alert: %q", got[0])
	}
	appBefore := r.stack.ContainerID(t, "app")

	r.config += "drift: {heal: true}\n"
	writeFile(t, filepath.Join(r.repo, "rekey.yaml"), r.config)
	r.git("commit", "-q", "-am", "heal drift")
	waitFor(t, 2*time.Minute, "the recovery notice", func() bool { return len(sink.all()) >= 2 })
	time.Sleep(3 * time.Second)
	got := sink.all()
	if len(got) != 2 || !strings.Contains(got[1], "resolved") {
		t.Fatalf("alerts: %q, want one stale-consumer alert and one resolved", got)
	}
	if _, worker := r.fingerprints(); worker["session_key"] != testenv.Fingerprint(r.values["session-key"]) {
		t.Errorf("worker runs %v after heal, want Git's key", worker)
	}
	if r.stack.ContainerID(t, "app") != appBefore {
		t.Error("heal recreated app, which was not stale")
	}
	if !strings.Contains(log.String(), "heal: roll stale consumers worker") {
		t.Errorf("agent log does not show the heal:\n%s", log)
	}
	for _, text := range append(got, log.String()) {
		if strings.Contains(text, handSession) || strings.Contains(text, r.values["alert-url"]) {
			t.Error("a value shows in an alert or the log")
		}
	}
}

// sourceState reports whether status.json shows the secret's source at location in state.
func sourceState(t *testing.T, status, secret, location, state string) bool {
	t.Helper()
	var m struct {
		Secrets []struct {
			Name    string `json:"name"`
			Sources []struct {
				Location string `json:"location"`
				State    string `json:"state"`
			} `json:"sources"`
		} `json:"secrets"`
	}
	if err := json.Unmarshal([]byte(status), &m); err != nil {
		t.Fatalf("status.json: %v", err)
	}
	for _, s := range m.Secrets {
		for _, src := range s.Sources {
			if s.Name == secret && src.Location == location && src.State == state {
				return true
			}
		}
	}
	return false
}
