package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/internal/testenv"
)

// dockerdLog is where a dockerd started by these tests logs, as scripts/setup.sh does.
const dockerdLog = "/var/log/rekey-dockerd.log"

// dockerdRunner stops and starts the Docker engine the way it was started: through systemd when a
// systemd unit runs it, otherwise by hand, as scripts/setup.sh starts it (its own session, log appended
// to dockerdLog), with the same command line the running daemon has.
type dockerdRunner struct {
	t       *testing.T
	systemd bool
	argv    []string
}

// newDockerdRunner finds how the running engine was started, and registers a cleanup that leaves one
// running (and answering) whatever happens to the test. The test must hold the engine lock exclusive
// from before its first stack (testenv.HoldEngineExclusiveFor): stopping dockerd stops every stack on it.
// Asking again here shares that hold, and makes a test that forgot it fail at once (it holds its stack's
// shared hold) instead of breaking the stacks of other tests.
func newDockerdRunner(t *testing.T) *dockerdRunner {
	t.Helper()
	testenv.HoldEngineExclusiveFor(t)
	d := &dockerdRunner{t: t}
	if _, err := os.Stat("/run/systemd/system"); err == nil && exec.Command("systemctl", "is-active", "--quiet", "docker").Run() == nil {
		d.systemd = true
	} else {
		pid := d.pid()
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			t.Fatalf("failed to read the command line of dockerd (pid %d): %v", pid, err)
		}
		d.argv = strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	}
	t.Cleanup(func() {
		if dockerAnswers() {
			return
		}
		t.Log("dockerd is not answering at the end of the test: starting it")
		d.start()
		d.waitReady(90 * time.Second)
	})
	return d
}

// pid is the running daemon's pid, from its pid file.
func (d *dockerdRunner) pid() int {
	d.t.Helper()
	b, err := os.ReadFile("/var/run/docker.pid")
	if err != nil {
		d.t.Fatalf("failed to find dockerd: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		d.t.Fatalf("bad pid in /var/run/docker.pid: %q", b)
	}
	return pid
}

// stop stops the daemon (SIGTERM to its pid: it stops the containers, then exits) and waits until it is
// gone.
func (d *dockerdRunner) stop(timeout time.Duration) {
	d.t.Helper()
	if d.systemd {
		if out, err := exec.Command("systemctl", "stop", "docker.socket", "docker").CombinedOutput(); err != nil {
			d.t.Fatalf("systemctl stop docker: %v: %s", err, out)
		}
		return
	}
	pid := d.pid()
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		d.t.Fatalf("failed to stop dockerd (pid %d): %v", pid, err)
	}
	deadline := time.Now().Add(timeout)
	for alive(pid) {
		if time.Now().After(deadline) {
			d.t.Fatalf("dockerd (pid %d) still runs %v after SIGTERM", pid, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// alive reports whether pid runs (a zombie does not: nobody may reap it here).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses: "pid (comm) S …".
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// start starts the daemon in the background, in a session of its own so that it outlives the test.
func (d *dockerdRunner) start() {
	d.t.Helper()
	if d.systemd {
		if out, err := exec.Command("systemctl", "start", "docker").CombinedOutput(); err != nil {
			d.t.Fatalf("systemctl start docker: %v: %s", err, out)
		}
		return
	}
	logf, err := os.OpenFile(dockerdLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		d.t.Fatal(err)
	}
	defer logf.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		d.t.Fatal(err)
	}
	defer devnull.Close()
	closeInheritedFDs(d.t)
	path, err := exec.LookPath(d.argv[0])
	if err != nil {
		d.t.Fatalf("failed to find %s: %v", d.argv[0], err)
	}
	cmd := &exec.Cmd{Path: path, Args: d.argv, Stdin: devnull, Stdout: logf, Stderr: logf,
		SysProcAttr: &syscall.SysProcAttr{Setsid: true}}
	if err := cmd.Start(); err != nil {
		d.t.Fatalf("failed to start dockerd: %v", err)
	}
	_ = cmd.Process.Release() // it is the machine's daemon from now on, not a child of the test
}

// closeInheritedFDs marks every descriptor above stderr close-on-exec. Go opens its own that way, but
// descriptors the test process inherited stay open across exec: `flock LOCK go test` hands the test its
// lock, and a dockerd started from here would hold /tmp/rekey-docker.lock for as long as it runs.
func closeInheritedFDs(t *testing.T) {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("failed to list open descriptors: %v", err)
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}

// waitReady waits until `docker info` answers.
func (d *dockerdRunner) waitReady(timeout time.Duration) {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for !dockerAnswers() {
		if time.Now().After(deadline) {
			d.t.Fatalf("dockerd does not answer %v after it was started (log: %s)", timeout, dockerdLog)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func dockerAnswers() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").Run() == nil
}
