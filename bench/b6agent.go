package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// soakAgent is `rekey agent` as an operator runs it (logs to a file, metrics on loopback, a short
// interval), restartable after a kill -9 as a service manager would.
// b6Retention is -b6-retention: the agent's --journal-retention when above 0.
var b6Retention int

type soakAgent struct {
	bin, metrics, logPath string
	args                  []string
	cmd                   *exec.Cmd
	log                   *os.File
	starts                int
}

func newSoakAgent(bin, dir string, flags []string, interval time.Duration) (*soakAgent, error) {
	a := &soakAgent{bin: bin, metrics: fmt.Sprintf("127.0.0.1:%d", freePort()), logPath: filepath.Join(dir, "agent.log")}
	a.args = append([]string{"agent", "--interval", interval.String(), "--drift-interval", interval.String(),
		"--metrics-addr", a.metrics}, flags...)
	if b6Retention > 0 {
		a.args = append(a.args, "--journal-retention", strconv.Itoa(b6Retention))
	}
	return a, a.start()
}

func (a *soakAgent) start() error {
	f, err := os.OpenFile(a.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "---- bench: agent start %d at %s\n", a.starts+1, time.Now().UTC().Format(time.RFC3339Nano))
	cmd := exec.Command(a.bin, a.args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return err
	}
	a.cmd, a.log = cmd, f
	a.starts++
	return nil
}

// kill is kill -9: no shutdown, the journal left as the crash leaves it.
func (a *soakAgent) kill() {
	a.cmd.Process.Kill()
	a.cmd.Wait()
	a.log.Close()
}

func (a *soakAgent) stop() {
	a.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { a.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(90 * time.Second):
		a.cmd.Process.Kill()
		<-done
	}
	a.log.Close()
}

// waitReady waits until the agent's first run ended ok (/readyz answers 200).
func (a *soakAgent) waitReady(within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + a.metrics + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("the agent was not ready within %s", within)
}

// logTail returns the last n lines of the agent's log, for a failure report.
func (a *soakAgent) logTail(n int) string {
	data, _ := os.ReadFile(a.logPath)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// agentView is what the agent's metrics say: the revision its last ok run applied, the secrets whose old
// value still waits to be revoked, its goroutines.
type agentView struct {
	revision   string
	pending    int64
	goroutines int64
	heapInuse  int64 // bytes: go_memstats_heap_inuse_bytes
}

func (a *soakAgent) view() agentView {
	client := http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://" + a.metrics + "/metrics")
	if err != nil {
		return agentView{}
	}
	defer resp.Body.Close()
	v := agentView{pending: -1}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, found := strings.Cut(sc.Text(), " ")
		if !found {
			continue
		}
		n, _ := strconv.ParseFloat(value, 64)
		switch {
		case strings.HasPrefix(name, `rekey_applied_revision_info{revision="`) && n == 1:
			v.revision = strings.TrimSuffix(strings.TrimPrefix(name, `rekey_applied_revision_info{revision="`), `"}`)
		case name == "rekey_pending_revocations":
			v.pending = int64(n)
		case name == "go_goroutines":
			v.goroutines = int64(n)
		case name == "go_memstats_heap_inuse_bytes":
			v.heapInuse = int64(n)
		}
	}
	return v
}

// procSample is the agent process as /proc sees it, with its Go heap in use as its metrics say.
type procSample struct {
	rss, anon, file, heap int64 // KiB: VmRSS, RssAnon, RssFile, heap in use
	fds, goroutines       int64
}

func (a *soakAgent) sample() procSample {
	pid := a.cmd.Process.Pid
	st, _ := procStatus(pid) // a process gone reads as zeros
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	v := a.view()
	return procSample{rss: st["VmRSS"], anon: st["RssAnon"], file: st["RssFile"], heap: v.heapInuse / 1024,
		fds: int64(len(fds)), goroutines: v.goroutines}
}

// sampleIdle samples the agent once it has used no CPU for 300 ms (at most 5 s of waiting): its run, the
// scan that ends it and its FreeOSMemory are over. A sample taken the moment the metrics say "in sync"
// lands at a random point of the run's end and measures that run's garbage, not what the agent keeps.
func (a *soakAgent) sampleIdle() procSample {
	pid := a.cmd.Process.Pid
	prev, _ := cpuTicks(pid)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		time.Sleep(300 * time.Millisecond)
		now, err := cpuTicks(pid)
		if now == prev || err != nil {
			break
		}
		prev = now
	}
	return a.sample()
}

// procStatus reads /proc/PID/status's kB fields (VmRSS, VmHWM, RssAnon, RssFile, …).
func procStatus(pid int) (map[string]int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	fields := map[string]int64{}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if v, unit := strings.CutSuffix(strings.TrimSpace(v), " kB"); ok && unit {
			fields[k], _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return fields, nil
}

// appFingerprints reads the demo app's /fingerprint over its published port (fingerprints, never values).
func appFingerprints(port int) (map[string]string, error) {
	client := http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/fingerprint", port))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fingerprint: status %d", resp.StatusCode)
	}
	var m map[string]string
	return m, json.NewDecoder(resp.Body).Decode(&m)
}

// serverFault stops the demo's Redis container: restarted in place (down 0), or stopped and started
// again after down. The container is the one running when the fault hits (rekey may recreate it later).
type serverFault struct {
	down    time.Duration
	mu      sync.Mutex
	cleared time.Time
}

func (f *serverFault) inject(s *stack) error {
	id, err := s.compose("ps", "-q", "redis")
	if err != nil || strings.TrimSpace(id) == "" {
		return fmt.Errorf("no redis container: %v", err)
	}
	id = strings.TrimSpace(id)
	if f.down == 0 {
		_, err := run(s.dir, "docker", "restart", "-t", "2", id)
		f.clear()
		return err
	}
	if _, err := run(s.dir, "docker", "stop", "-t", "2", id); err != nil {
		return err
	}
	go func() {
		time.Sleep(f.down)
		run(s.dir, "docker", "start", id) // rekey may have replaced it meanwhile: not a failure
		f.clear()
	}()
	return nil
}

func (f *serverFault) clear() {
	f.mu.Lock()
	f.cleared = time.Now()
	f.mu.Unlock()
}

func (f *serverFault) clearedAt() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cleared
}

// fileSize is a file's size in bytes, 0 when it cannot be read.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// timed runs a rekey command runs times through bench/rusage and returns the wall times and peak RSS.
func timed(runs int, bin string, args ...string) ([]time.Duration, []int64, error) {
	var walls []time.Duration
	var rss []int64
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for range runs {
		s, err := measure("", env, bin, args...)
		if err != nil {
			return nil, nil, err
		}
		walls, rss = append(walls, s.wall), append(rss, s.maxRSS)
	}
	return walls, rss, nil
}
