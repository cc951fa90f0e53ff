package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// B6, soak: a running agent on a fresh demo stack under the request load of B2 takes N commits in a row:
// a new session key every time, the Redis password too every 5th, the PostgreSQL password every 10th. Each
// commit is made, then `rekey reconcile` asks the agent to run and returns when a run after the request
// has ended: commit → in-sync is that time (the run the commit's own ref change triggered included; it
// holds at most one more apply with nothing to do). After each one: failed requests during it (counted
// against its heaviest secret: postgres, redis or the app key), the agent's RSS, open FDs and goroutines,
// journal.db's size, and the wall time of `rekey status` and `rekey history`. No fault is injected.

type b6Sample struct {
	kind               string
	took               time.Duration
	requests, failed   int64
	rss                int64 // KiB
	fds                int
	goroutines         int64
	journal            int64 // bytes
	status, history    time.Duration
	converged          bool
	reconcileExitError string
}

func runB6(root, bin string, rotations int) error {
	s, flags, err := appliedStack(root, bin)
	if s != nil {
		defer s.down()
	}
	if err != nil {
		return err
	}
	agent, metrics, err := startAgentWith(bin, flags)
	if err != nil {
		return err
	}
	defer agent.stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := startLoad(ctx, s.port)
	defer l.stop()
	var samples []b6Sample
	for i := 1; i <= rotations; i++ {
		sm, err := b6Iteration(root, bin, flags, l, agent.cmd.Process.Pid, metrics, i)
		if err != nil {
			return fmt.Errorf("rotation %d: %w", i, err)
		}
		fmt.Printf("rotation %3d  %-8s commit→in-sync %7s  %4d/%5d requests failed  rss %6.1f MiB  fds %3d  goroutines %3d  journal %7.1f KiB  status %6s  history %6s%s\n",
			i, sm.kind, round(sm.took), sm.failed, sm.requests, float64(sm.rss)/1024, sm.fds, sm.goroutines,
			float64(sm.journal)/1024, round(sm.status), round(sm.history), sm.reconcileExitError)
		samples = append(samples, sm)
	}
	b6Report(samples)
	return nil
}

// b6Iteration commits the iteration's new values, asks the agent to apply them and samples what it costs.
func b6Iteration(root, bin string, flags []string, l *load, pid int, metrics string, i int) (b6Sample, error) {
	secrets, kind := []string{"session-key"}, "app-key"
	if i%5 == 0 {
		secrets, kind = append(secrets, "redis-password"), "redis"
	}
	if i%10 == 0 {
		secrets, kind = append(secrets, "db-password"), "postgres"
	}
	repo, key, state := flags[1], flags[5], flags[3]
	for _, secret := range secrets {
		set := exec.Command(bin, "values", "set", "--repo", repo, "--age-key-file", key, secret)
		set.Stdin = strings.NewReader("b6-" + randHex(16))
		if out, err := set.CombinedOutput(); err != nil {
			return b6Sample{}, fmt.Errorf("values set %s: %v\n%s", secret, err, out)
		}
	}
	reqs, failed := l.requests.Load(), l.failed.Load()
	start := time.Now()
	if _, err := run(repo, "git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", "commit", "-qam", "b6 "+kind); err != nil {
		return b6Sample{}, err
	}
	sm := b6Sample{kind: kind}
	out, err := exec.Command(bin, "reconcile", "--state-dir", state).CombinedOutput()
	sm.took = time.Since(start)
	sm.converged = err == nil
	if err != nil {
		sm.reconcileExitError = fmt.Sprintf("  reconcile: %v: %s", err, firstLine(strings.TrimSpace(string(out))))
	}
	sm.requests, sm.failed = l.requests.Load()-reqs, l.failed.Load()-failed
	sm.rss, _, _ = memory(pid)
	if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		sm.fds = len(fds)
	}
	sm.goroutines, _ = scrapeGauge(metrics, "go_goroutines")
	if st, err := os.Stat(filepath.Join(state, "journal.db")); err == nil {
		sm.journal = st.Size()
	}
	sm.status = timed(root, bin, append([]string{"status", "--quiet"}, flags...)...)
	sm.history = timed(root, bin, append([]string{"history"}, flags...)...)
	return sm, nil
}

// timed is the wall time of one rekey command; its exit code is not the point (status exits non-zero on
// drift), but it must have run.
func timed(dir, bin string, args ...string) time.Duration {
	start := time.Now()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	_ = cmd.Run()
	return time.Since(start)
}

// startAgentWith starts an agent on an applied stack's flags, serving metrics, with a long interval: runs
// come from the repository's ref changes and from `rekey reconcile`.
func startAgentWith(bin string, flags []string) (runningAgent, string, error) {
	metrics := fmt.Sprintf("127.0.0.1:%d", freePort())
	cmd := exec.Command(bin, append([]string{"agent", "--interval", "1h", "--quiet", "--drift-interval", "1m",
		"--metrics-addr", metrics}, flags...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return runningAgent{}, "", err
	}
	a := runningAgent{cmd}
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + metrics + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return a, metrics, nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	a.stop()
	return runningAgent{}, "", fmt.Errorf("the agent was not ready within 2 minutes")
}

// scrapeGauge reads one unlabelled metric from the agent's /metrics.
func scrapeGauge(addr, name string) (int64, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), " "); ok && k == name {
			f, err := strconv.ParseFloat(v, 64)
			return int64(f), err
		}
	}
	return 0, fmt.Errorf("no %s in the metrics", name)
}

func b6Report(samples []b6Sample) {
	fmt.Println()
	fmt.Printf("B6 soak: %d commits under load (app key each, Redis every 5th, PostgreSQL every 10th)\n", len(samples))
	for _, kind := range []string{"app-key", "redis", "postgres"} {
		var took []time.Duration
		var failed, requests int64
		notConverged := 0
		for _, sm := range samples {
			if sm.kind == kind {
				took, failed, requests = append(took, sm.took), failed+sm.failed, requests+sm.requests
				if !sm.converged {
					notConverged++
				}
			}
		}
		if len(took) == 0 {
			continue
		}
		report("commit → in-sync, "+kind, took)
		fmt.Printf("  %-62s %d of %d requests; %d commits did not converge\n", "failed requests, "+kind, failed, requests, notConverged)
	}
	first, last := samples[0], samples[len(samples)-1]
	var maxRSS int64
	var status, history []time.Duration
	for _, sm := range samples {
		maxRSS = max(maxRSS, sm.rss)
		status, history = append(status, sm.status), append(history, sm.history)
	}
	fmt.Printf("  %-62s first %.1f MiB, last %.1f MiB (%+.1f%%), max %.1f MiB\n", "agent RSS", float64(first.rss)/1024,
		float64(last.rss)/1024, 100*float64(last.rss-first.rss)/float64(max(first.rss, 1)), float64(maxRSS)/1024)
	fmt.Printf("  %-62s first %d, last %d\n", "agent open FDs", first.fds, last.fds)
	fmt.Printf("  %-62s first %d, last %d\n", "agent goroutines", first.goroutines, last.goroutines)
	fmt.Printf("  %-62s first %.1f KiB, last %.1f KiB\n", "journal.db", float64(first.journal)/1024, float64(last.journal)/1024)
	report("rekey status", status)
	report("rekey history", history)
}
