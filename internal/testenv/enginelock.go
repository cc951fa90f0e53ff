package testenv

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// Swarm mode and Compose stacks on one engine. `docker swarm leave --force` drops the embedded-DNS
// records of every container that exists at that moment (moby/moby#45144, reproduced on this project's
// engine: docs/testing.md): a container created afterwards on a Compose project's network cannot
// resolve the services that were already running ("lookup db on 127.0.0.11:53: no such host"), and the
// demo app exits 1 at every start until db and redis are restarted or recreated. `swarm init` alone did
// not disturb them. So a test that makes the engine a swarm and leaves it again must not overlap with any
// Compose stack of another test, in this process or another (`go test ./...` runs packages in parallel):
// Compose stacks hold engineLockFile shared for their whole life, RequireSwarm holds it exclusive.
//
// A test that stops or restarts dockerd (e2e's dockerd fault tests) holds it exclusive too: a restart
// stops every container of every stack, and a stack of another test or benchmark beside it breaks.
//
// Within one process, a sync.RWMutex comes first: flock locks belong to open files, and an exclusive
// flock on a second descriptor would wait for ever on this process's own shared one. A test holding the
// lock exclusive may bring up Compose stacks (the exclusive hold covers them); a test with a stack may not
// then ask for it exclusive: that fails at once (holdFor).
//
// The file is not /tmp/rekey-docker.lock, the lock people and scripts take around whole `go test` runs
// (`flock /tmp/rekey-docker.lock go test …`): a test process started under it takes this one inside it,
// always in that order, so neither waits for itself.
var engineLockFile = swarmLock // a variable for its own test

var inProcess sync.RWMutex

// holdEngine takes the engine lock, shared or exclusive, until the returned release is called.
func holdEngine(exclusive bool) (release func(), err error) {
	lock, unlock, how := inProcess.RLock, inProcess.RUnlock, syscall.LOCK_SH
	if exclusive {
		lock, unlock, how = inProcess.Lock, inProcess.Unlock, syscall.LOCK_EX
	}
	lock()
	f, err := os.OpenFile(engineLockFile, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("engine lock %s: %w", engineLockFile, err)
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		unlock()
		return nil, fmt.Errorf("engine lock %s: %w", engineLockFile, err)
	}
	return func() { f.Close(); unlock() }, nil
}

// ShareEngine holds the engine lock shared until the test ends (after every cleanup registered later,
// such as a stack's `compose down`): no swarm test inits or leaves a swarm on the engine meanwhile.
// NewStack calls it; code that starts Compose projects without NewStack (bench) should too.
func ShareEngine(tb testing.TB) {
	tb.Helper()
	holdFor(tb, false)
}

// HoldEngineExclusiveFor holds the engine lock exclusive until the test ends (after every cleanup
// registered later): no Compose stack of another test or benchmark, in this process or another, and no
// swarm test runs meanwhile. A test that stops or restarts dockerd calls it first, before its own stacks
// (NewStack then shares this hold); called after a stack of the test, it fails at once.
func HoldEngineExclusiveFor(tb testing.TB) {
	tb.Helper()
	holdFor(tb, true)
}

// testHolds are the engine locks the tests of this process hold, by test name. A test asks for the lock
// again while it (or its parent or subtest: t.Run waits for the subtest) holds it. Asked exclusive while
// held shared, it would wait for itself for ever, so it fails at once. Otherwise it shares its first hold:
// asked the same way (a second RLock would wait behind any test queued for the exclusive lock, which
// waits for the first), or shared while held exclusive (the exclusive hold covers a stack; an RLock
// would wait for the test's own Lock).
var testHolds = struct {
	sync.Mutex
	by map[string]*testHold
}{by: map[string]*testHold{}}

type testHold struct {
	exclusive bool
	n         int // the holds of the test and its relatives on this one lock
	release   func()
}

// related says whether one test is the other, or runs inside it.
func related(a, b string) bool {
	return a == b || strings.HasPrefix(a, b+"/") || strings.HasPrefix(b, a+"/")
}

// holdFor takes the engine lock for tb until it ends (ShareEngine, RequireSwarm, HoldEngineExclusiveFor).
func holdFor(tb testing.TB, exclusive bool) {
	tb.Helper()
	testHolds.Lock()
	for name, h := range testHolds.by {
		if !related(name, tb.Name()) {
			continue
		}
		if exclusive && !h.exclusive {
			testHolds.Unlock()
			tb.Fatalf("engine lock: %s asks for it exclusive while %s holds it shared: it would wait for itself for ever (a test with a Compose stack must not then start a swarm or stop dockerd: take the exclusive lock first, before any stack)",
				tb.Name(), name)
			return
		}
		h.n++
		testHolds.Unlock()
		tb.Cleanup(func() { drop(name, h) })
		return
	}
	testHolds.Unlock()
	release, err := holdEngine(exclusive)
	if err != nil {
		tb.Fatal(err)
		return
	}
	h := &testHold{exclusive: exclusive, n: 1, release: release}
	testHolds.Lock()
	testHolds.by[tb.Name()] = h
	testHolds.Unlock()
	tb.Cleanup(func() { drop(tb.Name(), h) })
}

// drop ends one hold of h, and releases the lock with the last.
func drop(name string, h *testHold) {
	testHolds.Lock()
	h.n--
	last := h.n == 0
	if last {
		delete(testHolds.by, name)
	}
	testHolds.Unlock()
	if last {
		h.release()
	}
}

// HoldEngineShared is ShareEngine for code without a testing.TB (the benchmarks' stacks): hold the
// engine lock shared until release is called, after the stack is down.
func HoldEngineShared() (release func(), err error) { return holdEngine(false) }

// HoldEngineExclusive is RequireSwarm's lock for code without a testing.TB (the Swarm benchmark): no
// Compose stack of a test or benchmark runs until release is called, after the swarm is left.
func HoldEngineExclusive() (release func(), err error) { return holdEngine(true) }
