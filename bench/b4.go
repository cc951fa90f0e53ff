package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// B4, footprint: an idle `rekey agent` on the demo stack for a minute with a drift scan every 10 s, against
// the same agent with scans off (the baseline: what scanning costs on top of waiting). Then the demo's worker
// is scaled to 48 replicas (50 containers, the replicas without a healthcheck) and the agent scans every 2 s: the mean scan time, from the
// agent's own rekey_drift_scan_duration_seconds, against `docker inspect` of the same containers (reading
// what the scan reads, and nothing else).
const (
	b4Idle     = 60 * time.Second
	b4Replicas = 48
)

// footprint is one idle minute of an agent.
type footprint struct {
	cpu   float64 // share of one core
	rss   int64   // KiB at the end
	hwm   int64   // peak KiB
	scans int
}

func runB4(root, bin string, runs int) error {
	var on, off []footprint
	for i := 0; i < runs; i++ {
		for _, scans := range alternate(i, []bool{true, false}) {
			f, err := measureIdle(root, bin, scans)
			if err != nil {
				return err
			}
			fmt.Printf("run %d  scans=%-5v cpu %.2f%% of a core, rss %.1f MiB (peak %.1f MiB), %d scans\n",
				i+1, scans, 100*f.cpu, float64(f.rss)/1024, float64(f.hwm)/1024, f.scans)
			if scans {
				on = append(on, f)
			} else {
				off = append(off, f)
			}
		}
	}
	for _, side := range []struct {
		name string
		fs   []footprint
	}{{"scans every 10s", on}, {"scans off", off}} {
		cpu, rss, hwm := make([]float64, len(side.fs)), make([]int64, len(side.fs)), make([]int64, len(side.fs))
		for i, f := range side.fs {
			cpu[i], rss[i], hwm[i] = 100*f.cpu, f.rss, f.hwm
		}
		c, clo, chi := summary(cpu)
		fmt.Printf("B4 idle agent, %-16s cpu %.2f%% (%.2f–%.2f) of a core\n", side.name, c, clo, chi)
		reportMiB("B4 idle agent, "+side.name+", rss", rss)
		reportMiB("B4 idle agent, "+side.name+", peak rss", hwm)
	}
	return measureScan(root, bin, runs)
}

// measureIdle starts an agent on a fresh demo stack, waits for its first run, and watches it for b4Idle.
func measureIdle(root, bin string, scans bool) (footprint, error) {
	s, err := newStack(root)
	if s != nil {
		defer s.down()
	}
	if err != nil {
		return footprint{}, err
	}
	interval := "0"
	if scans {
		interval = "10s"
	}
	agent, metrics, err := s.startAgent(root, bin, interval)
	if err != nil {
		return footprint{}, err
	}
	defer agent.stop()
	t0, err := cpuTicks(agent.cmd.Process.Pid)
	if err != nil {
		return footprint{}, err
	}
	scans0, _ := scrapeScans(metrics)
	time.Sleep(b4Idle)
	t1, err := cpuTicks(agent.cmd.Process.Pid)
	if err != nil {
		return footprint{}, err
	}
	rss, hwm, err := memory(agent.cmd.Process.Pid)
	if err != nil {
		return footprint{}, err
	}
	scans1, _ := scrapeScans(metrics)
	return footprint{cpu: float64(t1-t0) / clockTicks / b4Idle.Seconds(), rss: rss, hwm: hwm,
		scans: int(scans1.count - scans0.count)}, nil
}

// measureScan scales the worker to b4Replicas and compares the agent's mean scan time with docker inspect.
func measureScan(root, bin string, runs int) error {
	s, err := newStack(root)
	if s != nil {
		defer s.down()
	}
	if err != nil {
		return err
	}
	// 48 workers probing their health every second would keep dockerd (and both cores) busy answering the
	// probes: the scan would measure that load. The replicas run without a healthcheck.
	override := "services:\n  worker:\n    healthcheck: {disable: true}\n"
	if err := os.WriteFile(filepath.Join(s.dir, "compose.override.yaml"), []byte(override), 0o644); err != nil {
		return err
	}
	if _, err := s.compose("up", "-d", "--wait", "--scale", fmt.Sprintf("worker=%d", b4Replicas)); err != nil {
		return err
	}
	ids, err := run(s.dir, "docker", "ps", "-q", "--filter", "label=com.docker.compose.project="+s.name)
	if err != nil {
		return err
	}
	n := len(strings.Fields(ids))
	agent, metrics, err := s.startAgent(root, bin, "2s")
	if err != nil {
		return err
	}
	defer agent.stop()
	var scan, inspect []time.Duration
	for i := 0; i < runs; i++ {
		before, err := scrapeScans(metrics)
		if err != nil {
			return err
		}
		time.Sleep(10 * time.Second)
		after, err := scrapeScans(metrics)
		if err != nil {
			return err
		}
		if after.count == before.count {
			return fmt.Errorf("no drift scan finished in 10 s")
		}
		mean := time.Duration((after.sum - before.sum) / float64(after.count-before.count) * float64(time.Second))
		start := time.Now()
		if _, err := run(s.dir, "docker", append([]string{"inspect"}, strings.Fields(ids)...)...); err != nil {
			return err
		}
		d := time.Since(start)
		fmt.Printf("run %d  scan of %d containers: mean %s over %d scans; docker inspect of them: %s\n",
			i+1, n, round(mean), after.count-before.count, round(d))
		scan, inspect = append(scan, mean), append(inspect, d)
	}
	report(fmt.Sprintf("B4 drift scan, %d containers", n), scan)
	report(fmt.Sprintf("B4 docker inspect, %d containers", n), inspect)
	ratio("B4 scan / docker inspect", median(scan), median(inspect))
	return nil
}

type runningAgent struct{ cmd *exec.Cmd }

func (a runningAgent) stop() {
	a.cmd.Process.Signal(syscall.SIGTERM)
	a.cmd.Wait()
}

// startAgent applies the demo's desired state and starts an agent with the drift interval given, serving
// metrics; it returns once the agent's first run is over.
func (s *stack) startAgent(root, bin, driftInterval string) (runningAgent, string, error) {
	flags, err := s.applied(root, bin)
	if err != nil {
		return runningAgent{}, "", err
	}
	metrics := fmt.Sprintf("127.0.0.1:%d", freePort())
	cmd := exec.Command(bin, append([]string{"agent", "--interval", "1h", "--quiet", "--drift-interval", driftInterval,
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

// scans is the agent's rekey_drift_scan_duration_seconds histogram total.
type scans struct {
	sum   float64
	count int64
}

func scrapeScans(addr string) (scans, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return scans{}, err
	}
	defer resp.Body.Close()
	var out scans
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		switch {
		case !ok:
		case name == "rekey_drift_scan_duration_seconds_sum":
			out.sum, _ = strconv.ParseFloat(value, 64)
		case name == "rekey_drift_scan_duration_seconds_count":
			out.count, _ = strconv.ParseInt(value, 10, 64)
		}
	}
	return out, sc.Err()
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times (100 on Linux).
const clockTicks = 100

// cpuTicks returns the user+system time of a process in clock ticks.
func cpuTicks(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	rest := data[bytes.LastIndexByte(data, ')')+2:]
	f := strings.Fields(string(rest))
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	return utime + stime, nil
}

// memory returns the current and peak resident set of a process, in KiB.
func memory(pid int) (rss, hwm int64, err error) {
	st, err := procStatus(pid)
	return st["VmRSS"], st["VmHWM"], err
}
