package testenv

import (
	"bufio"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestEngineLockExcludesSwarmFromStacks: the exclusive engine lock (RequireSwarm) waits for a shared one
// (a Compose stack) held in this process and in another one, and shared ones do not wait for each other.
func TestEngineLockExcludesSwarmFromStacks(t *testing.T) {
	engineLockFile = filepath.Join(t.TempDir(), "engine.lock")
	t.Cleanup(func() { engineLockFile = swarmLock })

	stack, err := holdEngine(false)
	if err != nil {
		t.Fatal(err)
	}
	other, err := holdEngine(false) // a second stack at the same time
	if err != nil {
		t.Fatal(err)
	}
	other()
	done := make(chan struct{})
	go func() {
		release, err := holdEngine(true)
		if err != nil {
			t.Error(err)
		} else {
			release()
		}
		close(done)
	}()
	select {
	case <-done:
		t.Fatal("the swarm lock was taken while a stack of this process held the engine")
	case <-time.After(200 * time.Millisecond):
	}
	stack()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the swarm lock was not taken after the stack released the engine")
	}

	// Another process holding it shared (another package's test binary running a stack).
	flock, err := exec.LookPath("flock")
	if err != nil {
		t.Fatalf("flock (util-linux) holds the lock from another process: %v", err)
	}
	child := exec.Command(flock, "-s", engineLockFile, "-c", "echo held; sleep 1")
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Wait()
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "held\n" {
		t.Fatalf("child said %q", line)
	}
	start := time.Now()
	release, err := holdEngine(true)
	if err != nil {
		t.Fatal(err)
	}
	release()
	if waited := time.Since(start); waited < 500*time.Millisecond {
		t.Errorf("the swarm lock was taken after %s while another process held the engine for 1s", waited)
	}
}
