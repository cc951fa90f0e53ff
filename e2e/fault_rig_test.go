package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/internal/testenv"
)

// The fault-injection tests (fault_test.go) break one real part under a running rotation. These are
// their tools: a rekey run in the background whose progress can be watched, a host check that holds the
// rotation at a known point until the test has broken something, small filesystems that fill up, and
// the assertions every case makes (the stack serves, the transaction ended, no value was lost).

// asyncRun is one rekey command running in the background.
type asyncRun struct {
	r              *rig
	cmd            *exec.Cmd
	stdout, stderr syncBuffer
	done           chan struct{}
	err            error
}

// startRekey starts rekey with the rig's repository, state dir and key, like rig.rekey, without waiting.
// A cleanup kills it (by its own pid) if the test ends first.
func (r *rig) startRekey(args ...string) *asyncRun {
	r.t.Helper()
	full := append(args, "--repo", r.repo, "--state-dir", r.stateDir, "--age-key-file", r.keyFile)
	a := &asyncRun{r: r, cmd: exec.Command(rekeyBin, full...), done: make(chan struct{})}
	a.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	a.cmd.Stdout, a.cmd.Stderr = &a.stdout, &a.stderr
	if err := a.cmd.Start(); err != nil {
		r.t.Fatalf("failed to start rekey %v: %v", args, err)
	}
	go func() {
		a.err = a.cmd.Wait()
		close(a.done)
	}()
	r.t.Cleanup(func() {
		select {
		case <-a.done:
		default:
			_ = a.cmd.Process.Kill()
			<-a.done
		}
	})
	return a
}

// wait returns the run's result once it ended (at most timeout).
func (a *asyncRun) wait(timeout time.Duration) result {
	a.r.t.Helper()
	select {
	case <-a.done:
	case <-time.After(timeout):
		a.r.t.Fatalf("rekey still runs after %v\nstdout:\n%s\nstderr:\n%s", timeout, a.stdout.String(), a.stderr.String())
	}
	res := result{stdout: a.stdout.String(), stderr: a.stderr.String()}
	var ee *exec.ExitError
	if errors.As(a.err, &ee) {
		res.code = ee.ExitCode()
	} else if a.err != nil {
		a.r.t.Fatalf("rekey: %v", a.err)
	}
	a.r.checkNoLeak(res)
	return res
}

// waitStderr waits until rekey's progress (stderr) matches re; it fails the test if rekey ends first.
func (a *asyncRun) waitStderr(re *regexp.Regexp, timeout time.Duration) {
	a.r.t.Helper()
	deadline := time.Now().Add(timeout)
	for !re.MatchString(a.stderr.String()) {
		select {
		case <-a.done:
			if re.MatchString(a.stderr.String()) {
				return
			}
			a.r.t.Fatalf("rekey ended before its progress showed %q\nstdout:\n%s\nstderr:\n%s", re, a.stdout.String(), a.stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			a.r.t.Fatalf("rekey's progress did not show %q within %v:\n%s", re, timeout, a.stderr.String())
		}
	}
}

// pauseHook is a host `cmd` check that holds the rotation the first time it runs, until the test calls
// resume (or 45 s pass: rekey gives a check one minute): a window at a known step in which to break
// something. Later runs pass at once.
type pauseHook struct {
	t   *testing.T
	dir string
}

func newPauseHook(t *testing.T) *pauseHook {
	t.Helper()
	h := &pauseHook{t: t, dir: t.TempDir()}
	script := fmt.Sprintf(`#!/bin/sh
d='%s'
mkdir "$d/entered" 2>/dev/null || exit 0
i=0
while [ ! -e "$d/resume" ] && [ "$i" -lt 450 ]; do sleep 0.1; i=$((i+1)); done
exit 0
`, h.dir)
	if err := os.WriteFile(filepath.Join(h.dir, "hook.sh"), []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.resume) // never leave a rekey hanging in the hook
	return h
}

// check is the YAML of the check, as an item of a `verify:` list.
func (h *pauseHook) check() string {
	return fmt.Sprintf("  - cmd: [\"/bin/sh\", %q]\n", filepath.Join(h.dir, "hook.sh"))
}

// waitPaused waits until rekey sits in the hook; it fails the test if rekey ends first.
func (h *pauseHook) waitPaused(a *asyncRun, timeout time.Duration) {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(filepath.Join(h.dir, "entered")); err == nil {
			return
		}
		select {
		case <-a.done:
			h.t.Fatalf("rekey ended before it reached the pause hook\nstdout:\n%s\nstderr:\n%s", a.stdout.String(), a.stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("rekey did not reach the pause hook within %v:\n%s", timeout, a.stderr.String())
		}
	}
}

func (h *pauseHook) resume() {
	_ = os.WriteFile(filepath.Join(h.dir, "resume"), nil, 0o600)
}

// faultRig is newRig with extra top-level checks and, when override is not empty, a compose.override.yaml
// written into the stack before it starts (compose and rekey both read it).
func faultRig(t *testing.T, override, extraVerify string) *rig {
	t.Helper()
	testenv.RequireImages(t)
	st := testenv.NewStack(t, testenv.DemoStackDir(t))
	if override != "" {
		writeFile(t, filepath.Join(st.Dir, "compose.override.yaml"), override)
	}
	st.Up(t)
	return faultRigFor(t, st, extraVerify)
}

// faultRigFor gives a running demo stack the demo's desired state, with extraVerify appended to the
// top-level checks.
func faultRigFor(t *testing.T, st *testenv.Stack, extraVerify string) *rig {
	t.Helper()
	return demoRig(t, st, "0s", extraVerify)
}

// stackFiles are the exact bytes of the files rekey writes on the demo stack.
type stackFiles map[string][]byte

var demoSources = []string{".env", "secrets/webhook_token.txt"}

func (r *rig) readSources() stackFiles {
	r.t.Helper()
	files := stackFiles{}
	for _, rel := range demoSources {
		b, err := os.ReadFile(filepath.Join(r.stack.Dir, rel))
		if err != nil {
			r.t.Fatal(err)
		}
		files[rel] = b
	}
	return files
}

// assertSourcesUnchanged fails unless every source holds exactly the bytes it held before.
func (r *rig) assertSourcesUnchanged(before stackFiles, when string) {
	r.t.Helper()
	now := r.readSources()
	for rel, b := range before {
		if !bytes.Equal(now[rel], b) {
			r.t.Errorf("%s: %s is not byte-identical to before (%d bytes, was %d):\n%s", when, rel, len(now[rel]), len(b), lineDiff(b, now[rel]))
		}
	}
}

// assertEnvRotated fails unless .env is its old self, byte for byte, except for the lines of keys, and
// those hold want.
func (r *rig) assertEnvRotated(before []byte, want map[string]string) {
	r.t.Helper()
	now, err := os.ReadFile(filepath.Join(r.stack.Dir, ".env"))
	if err != nil {
		r.t.Fatal(err)
	}
	oldLines, newLines := strings.Split(string(before), "\n"), strings.Split(string(now), "\n")
	if len(oldLines) != len(newLines) {
		r.t.Errorf(".env has %d lines after the rotation, %d before:\n%s", len(newLines), len(oldLines), lineDiff(before, now))
		return
	}
	for i, line := range newLines {
		key, _, _ := strings.Cut(line, "=")
		if _, rotated := want[key]; !rotated && line != oldLines[i] {
			r.t.Errorf(".env line %d changed although it holds no rotated value:\n%s", i+1, lineDiff(before, now))
			return
		}
	}
	env := r.stack.DotEnv(r.t)
	for key, v := range want {
		if env[key] != v {
			r.t.Errorf(".env: %s does not hold the value it should after the rotation", key)
		}
	}
}

// lineDiff shows which lines differ, by number and key only: the files hold secret values.
func lineDiff(before, after []byte) string {
	a, b := strings.Split(string(before), "\n"), strings.Split(string(after), "\n")
	var out []string
	for i := range max(len(a), len(b)) {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			kx, _, _ := strings.Cut(x, "=")
			ky, _, _ := strings.Cut(y, "=")
			out = append(out, fmt.Sprintf("  line %d: %.30q (%d bytes) → %.30q (%d bytes)", i+1, kx, len(x), ky, len(y)))
		}
	}
	return strings.Join(out, "\n")
}

// waitServing waits until the app answers /healthz with 200 from the host and the worker's own health
// endpoint answers inside its container: the stack serves.
func (r *rig) waitServing(timeout time.Duration) {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: 2 * time.Second}
	var last string
	for time.Now().Before(deadline) {
		last = r.servingProblem(client)
		if last == "" {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	r.t.Fatalf("the stack does not serve after %v: %s", timeout, last)
}

func (r *rig) servingProblem(client *http.Client) string {
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", r.stack.AppPort))
	if err != nil {
		return "app: " + err.Error()
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "app /healthz: " + resp.Status
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ids, err := exec.CommandContext(ctx, "docker", "ps", "-q", "--filter", "label=com.docker.compose.project="+r.stack.Name,
		"--filter", "label=com.docker.compose.service=worker").Output()
	if err != nil || len(strings.Fields(string(ids))) != 1 {
		return fmt.Sprintf("worker: %d running containers (%v)", len(strings.Fields(string(ids))), err)
	}
	probe := exec.CommandContext(ctx, "docker", "exec", strings.Fields(string(ids))[0], "/demoapp", "probe", "http://127.0.0.1:8081/healthz")
	if out, err := probe.CombinedOutput(); err != nil {
		return fmt.Sprintf("worker /healthz: %v: %s", err, out)
	}
	return ""
}

// secretStatus is the entry of one secret in `rekey status --output json`.
func (r *rig) secretStatus(secret string) map[string]any {
	r.t.Helper()
	for _, s := range r.status()["secrets"].([]any) {
		if m := s.(map[string]any); m["secret"] == secret {
			return m
		}
	}
	r.t.Fatalf("status does not list %s", secret)
	return nil
}

// journalTxns are the transactions of secret as the journal tells them through `rekey history`, oldest
// first.
func (r *rig) journalTxns(secret string) []map[string]any {
	r.t.Helper()
	res := r.rekey("history", secret, "--limit", "0", "--output", "json")
	if res.code != 0 {
		r.t.Fatalf("history exited %d: %s", res.code, res.stderr)
	}
	var out struct {
		Commits []struct {
			Transactions []map[string]any `json:"transactions"`
		} `json:"commits"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &out); err != nil {
		r.t.Fatalf("history output: %v\n%s", err, res.stdout)
	}
	var txns []map[string]any
	for _, c := range out.Commits {
		for _, txn := range c.Transactions {
			if txn["began"] != nil { // an in-sync record (adopted value) is listed without a transaction
				txns = append(txns, txn)
			}
		}
	}
	sort.SliceStable(txns, func(i, j int) bool { return fmt.Sprint(txns[i]["began"]) < fmt.Sprint(txns[j]["began"]) })
	return txns
}

// assertEnded fails unless no transaction of any secret is open (status) and the journal's last
// transaction of secret ended with one of outcomes.
func (r *rig) assertEnded(secret string, outcomes ...string) {
	r.t.Helper()
	for _, s := range r.status()["secrets"].([]any) {
		if m := s.(map[string]any); m["open_txn"] != nil {
			r.t.Errorf("status: %v still has an open transaction: %v", m["secret"], m["open_txn"])
		}
	}
	txns := r.journalTxns(secret)
	if len(txns) == 0 {
		r.t.Fatalf("the journal holds no transaction of %s", secret)
	}
	last := txns[len(txns)-1]
	if last["open_phase"] != nil || !contains(outcomes, fmt.Sprint(last["outcome"])) {
		r.t.Errorf("journal: the last transaction of %s ended %v (open phase %v), want one of %v\nall: %v", secret, last["outcome"], last["open_phase"], outcomes, txns)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// assertSays fails unless rekey's output (stdout and stderr) holds every phrase: the message says what
// broke and what to do next.
func assertSays(t *testing.T, res result, phrases ...string) {
	t.Helper()
	all := res.stdout + "\n" + res.stderr
	for _, p := range phrases {
		if !strings.Contains(all, p) {
			t.Errorf("rekey's output does not say %q\nstdout:\n%s\nstderr:\n%s", p, res.stdout, res.stderr)
		}
	}
}

// tmpfs mounts a tmpfs of size bytes (mode 0700) on dir, creating dir, and unmounts it when the test
// ends, even if it failed.
func tmpfs(t *testing.T, dir string, size int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	opts := fmt.Sprintf("size=%d,mode=0700", size)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", opts, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs on %s: %v: %s", dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v: %s; detaching it", dir, err, out)
			_ = exec.Command("umount", "-l", dir).Run()
		}
	})
}

// fillFS writes path until its filesystem has no byte left (ENOSPC), and returns how much it wrote.
func fillFS(t *testing.T, path string) int {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := bytes.Repeat([]byte{'x'}, 4096)
	total := 0
	for _, size := range []int{4096, 512, 1} { // whole pages, then whatever a partial page still takes
		for {
			n, err := f.Write(chunk[:size])
			total += n
			if errors.Is(err, syscall.ENOSPC) {
				break
			}
			if err != nil {
				t.Fatalf("fill %s: %v", path, err)
			}
		}
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		t.Fatal(err)
	}
	if st.Bavail != 0 {
		t.Fatalf("%s: %d blocks still free after filling", path, st.Bavail)
	}
	return total
}

// chattr sets or clears an inode attribute ("+i", "-i").
func chattr(t *testing.T, attr, path string) {
	t.Helper()
	if out, err := exec.Command("chattr", attr, path).CombinedOutput(); err != nil {
		t.Fatalf("chattr %s %s: %v: %s", attr, path, err, out)
	}
}
