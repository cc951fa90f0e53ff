package testenv

import (
	"bufio"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestEngineLockExcludesSwarmFromStacks: the exclusive engine lock (RequireSwarm) waits for a shared one
// (a Compose stack) held in this process and in another one, and shared ones do not wait for each other.
func TestEngineLockExcludesSwarmFromStacks(t *testing.T) {
	useTempEngineLock(t)

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
	defer heldByAnotherProcess(t).Wait()
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

// fakeTB is a test of a given name whose cleanups run when end is called and whose Fatal ends the
// goroutine, as testing's does.
type fakeTB struct {
	testing.TB
	name     string
	mu       sync.Mutex
	cleanups []func()
	fatal    string
}

func (f *fakeTB) Name() string { return f.name }
func (f *fakeTB) Helper()      {}
func (f *fakeTB) Cleanup(c func()) {
	f.mu.Lock()
	f.cleanups = append(f.cleanups, c)
	f.mu.Unlock()
}
func (f *fakeTB) Fatal(args ...any) { f.Fatalf("%s", fmt.Sprint(args...)) }
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatal = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}
func (f *fakeTB) end() {
	f.mu.Lock()
	cleanups := f.cleanups
	f.cleanups = nil // once: a test also ends its fakes when it fails (endOnFailure)
	f.mu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
}

// endOnFailure ends the fakes when t ends, if t has not: a failed test must not leave the engine lock
// held, so that the next test fails on its own instead of waiting for ever.
func endOnFailure(t *testing.T, fakes ...*fakeTB) {
	t.Cleanup(func() {
		for i := len(fakes) - 1; i >= 0; i-- {
			fakes[i].end()
		}
	})
}

// within runs f on its own goroutine, as a test body, and reports whether it returned (or failed) in time.
func within(d time.Duration, f func()) bool {
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// TestEngineLockNeverWaitsForItself: a test holding the engine lock that asks for it the other way (a
// Compose stack, then a swarm; or a subtest of it) fails at once instead of waiting for ever; asking
// shared again (a second stack, a subtest's stack) shares the first hold, even while a swarm test of the
// same process queues for the exclusive lock (a second RLock would wait behind it, and it for the first).
func TestEngineLockNeverWaitsForItself(t *testing.T) {
	useTempEngineLock(t)

	stack := &fakeTB{name: "TestStack"}
	ShareEngine(stack)
	swarm := &fakeTB{name: "TestSwarm"}
	queued := make(chan struct{})
	go func() { defer close(queued); holdFor(swarm, true) }() // another test, waiting for the stack's end
	time.Sleep(100 * time.Millisecond)

	second := &fakeTB{name: "TestStack/second_stack"}
	if !within(2*time.Second, func() { ShareEngine(second) }) {
		t.Fatal("a subtest's stack waited for the swarm test queued behind its parent's stack")
	}
	for _, name := range []string{"TestStack", "TestStack/sub"} {
		self := &fakeTB{name: name}
		if !within(2*time.Second, func() { holdFor(self, true) }) {
			t.Fatalf("%s asked for the swarm lock while holding a stack: it waits for itself", name)
		}
		if !strings.Contains(self.fatal, "would wait for itself") {
			t.Errorf("%s: failure %q, want the reason", name, self.fatal)
		}
	}
	second.end()
	select {
	case <-queued:
		t.Fatal("the swarm lock was taken while a stack still held the engine")
	case <-time.After(100 * time.Millisecond):
	}
	stack.end()
	select {
	case <-queued:
	case <-time.After(5 * time.Second):
		t.Fatal("the swarm lock was not taken once the stacks ended")
	}
	swarm.end()
}

// heldByAnotherProcess starts flock holding the engine lock shared for a second from another process
// (another package's test binary running a stack) and returns once it holds it. Wait for it.
func heldByAnotherProcess(t *testing.T) *exec.Cmd {
	t.Helper()
	flock, err := exec.LookPath("flock")
	if err != nil {
		t.Fatalf("flock (util-linux) holds the lock from another process: %v", err)
	}
	child := exec.Command(flock, "--shared", engineLockFile, "-c", "echo held; sleep 1")
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "held\n" {
		child.Wait()
		t.Fatalf("child said %q", line)
	}
	return child
}
