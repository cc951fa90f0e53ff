package testenv

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// useTempEngineLock points the engine lock at a file of this test only.
func useTempEngineLock(t *testing.T) {
	engineLockFile = filepath.Join(t.TempDir(), "engine.lock")
	t.Cleanup(func() { engineLockFile = swarmLock })
}

// anotherProcessCanShare reports whether another process (another package's test binary starting a
// stack) would get the engine lock shared now, without waiting.
func anotherProcessCanShare(t *testing.T) bool {
	t.Helper()
	flock, err := exec.LookPath("flock")
	if err != nil {
		t.Fatalf("flock (util-linux) takes the lock from another process: %v", err)
	}
	err = exec.Command(flock, "--shared", "--nonblock", engineLockFile, "true").Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 1 {
		return false
	}
	if err != nil {
		t.Fatalf("flock: %v", err)
	}
	return true
}

// TestEngineLockExclusiveCoversOwnStacks: a test that stops dockerd holds the engine lock exclusive
// (HoldEngineExclusiveFor), then brings up its own Compose stacks, and a subtest's, without waiting for
// itself; meanwhile no stack of another test, in this process or another, gets the lock, until the test
// and all its stacks have ended.
func TestEngineLockExclusiveCoversOwnStacks(t *testing.T) {
	useTempEngineLock(t)

	dockerd := &fakeTB{name: "TestFaultDockerd"}
	if !within(2*time.Second, func() { HoldEngineExclusiveFor(dockerd) }) || dockerd.fatal != "" {
		t.Fatalf("the exclusive lock on a free engine: %q", dockerd.fatal)
	}
	if !within(2*time.Second, func() { ShareEngine(dockerd) }) {
		t.Fatal("a test holding the engine exclusive waited for itself when it brought up a stack")
	}
	sub := &fakeTB{name: "TestFaultDockerd/sub"}
	endOnFailure(t, dockerd, sub)
	if !within(2*time.Second, func() { ShareEngine(sub) }) {
		t.Fatal("a subtest's stack waited for its parent's exclusive hold")
	}
	if dockerd.fatal != "" || sub.fatal != "" {
		t.Fatalf("a stack under the test's own exclusive hold failed: %q %q", dockerd.fatal, sub.fatal)
	}

	other := &fakeTB{name: "TestOtherStack"}
	queued := make(chan struct{})
	go func() { defer close(queued); ShareEngine(other) }()
	t.Cleanup(func() { dockerd.end(); sub.end(); <-queued; other.end() }) // it gets the lock once they end
	waiting := func(when string) {
		t.Helper()
		select {
		case <-queued:
			t.Fatalf("%s: another test's stack got the engine while dockerd may be stopped", when)
		case <-time.After(200 * time.Millisecond):
		}
		if anotherProcessCanShare(t) {
			t.Fatalf("%s: another process's stack got the engine while dockerd may be stopped", when)
		}
	}
	waiting("with the test's stacks up")
	sub.end()
	waiting("after the subtest's stack ended")

	dockerd.end() // its stack's cleanup, then the exclusive hold's
	select {
	case <-queued:
	case <-time.After(5 * time.Second):
		t.Fatal("another test's stack did not get the engine after the exclusive test ended")
	}
	if other.fatal != "" {
		t.Fatalf("the other stack: %s", other.fatal)
	}
	if !anotherProcessCanShare(t) {
		t.Error("another process's stack cannot share the engine with this one")
	}
	other.end()
}

// TestEngineLockExclusiveAfterOwnStackFails: a test (or its subtest) that brought up a stack and then
// asks for the exclusive lock fails at once, saying to take it first, and leaves the lock as it was.
func TestEngineLockExclusiveAfterOwnStackFails(t *testing.T) {
	useTempEngineLock(t)

	stack := &fakeTB{name: "TestStackThenDockerd"}
	ShareEngine(stack)
	endOnFailure(t, stack)
	for _, name := range []string{"TestStackThenDockerd", "TestStackThenDockerd/restart"} {
		self := &fakeTB{name: name}
		endOnFailure(t, self)
		if !within(2*time.Second, func() { HoldEngineExclusiveFor(self) }) {
			t.Fatalf("%s asked for the exclusive lock after its stack: it waits for itself", name)
		}
		for _, want := range []string{"would wait for itself", "take the exclusive lock first"} {
			if !strings.Contains(self.fatal, want) {
				t.Errorf("%s: failure %q, want %q", name, self.fatal, want)
			}
		}
		self.end()
	}
	if !anotherProcessCanShare(t) {
		t.Error("the failed exclusive request left the engine locked against other stacks")
	}
	stack.end()
	if !within(2*time.Second, func() {
		release, err := holdEngine(true)
		if err == nil {
			release()
		}
	}) {
		t.Error("the engine lock is still held after the stack ended")
	}
}

// TestEngineLockExclusiveWaitsForStacks: HoldEngineExclusiveFor waits until a stack of another test of
// this process, and one of another process, have released the engine.
func TestEngineLockExclusiveWaitsForStacks(t *testing.T) {
	useTempEngineLock(t)

	other := &fakeTB{name: "TestOtherStack"}
	ShareEngine(other)
	dockerd := &fakeTB{name: "TestFaultDockerd"}
	endOnFailure(t, other, dockerd)
	held := make(chan struct{})
	go func() { defer close(held); HoldEngineExclusiveFor(dockerd) }()
	select {
	case <-held:
		t.Fatal("the exclusive lock was taken while another test's stack held the engine")
	case <-time.After(200 * time.Millisecond):
	}
	other.end()
	select {
	case <-held:
	case <-time.After(5 * time.Second):
		t.Fatal("the exclusive lock was not taken after the other test's stack ended")
	}
	dockerd.end()

	// A stack of another process (another package's test binary) holding the engine for a second.
	defer heldByAnotherProcess(t).Wait()
	second := &fakeTB{name: "TestFaultDockerdDown"}
	endOnFailure(t, second)
	start := time.Now()
	if !within(5*time.Second, func() { HoldEngineExclusiveFor(second) }) || second.fatal != "" {
		t.Fatalf("the exclusive lock was not taken after the other process released it: %q", second.fatal)
	}
	if waited := time.Since(start); waited < 500*time.Millisecond {
		t.Errorf("the exclusive lock was taken after %s while another process held the engine for 1s", waited)
	}
	second.end()
}
