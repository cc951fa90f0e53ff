package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"
)

// rusageBin is bench/rusage, built by main for B3 and B5: it runs each measured child and reports it.
var rusageBin string

// sample is one run of a child process.
type sample struct {
	wall   time.Duration
	maxRSS int64         // peak resident set size in KiB (getrusage on Linux)
	cpu    time.Duration // user + system CPU time, with the children it waited for
	stdout []byte
}

// measure runs a command to completion through bench/rusage, with exactly the given environment, and
// reports its wall time (fork to exit), peak RSS and CPU time.
func measure(dir string, env []string, name string, args ...string) (sample, error) {
	out, err := os.CreateTemp("", "rekey-bench-rusage-")
	if err != nil {
		return sample{}, err
	}
	out.Close()
	defer os.Remove(out.Name())
	cmd := exec.Command(rusageBin, append([]string{out.Name(), name}, args...)...)
	cmd.Dir, cmd.Env = dir, env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return sample{}, fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.Bytes())
	}
	var s sample
	report, err := os.ReadFile(out.Name())
	if err == nil {
		_, err = fmt.Sscan(string(report), &s.wall, &s.maxRSS, &s.cpu)
	}
	if err != nil {
		return sample{}, fmt.Errorf("rusage report of %s: %v", name, err)
	}
	s.stdout = stdout.Bytes()
	return s, nil
}

// startProfile starts the CPU profiler writing to path; stop ends it.
func startProfile(path string) (stop func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
