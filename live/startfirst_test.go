package live

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/dockerio"
)

// fakeService is one compose service's containers, as the engine and the Compose CLI would change them.
type fakeService struct {
	hash      string // what `compose config --hash` says now
	ctrs      []dockerio.Replica
	next      int
	unhealthy bool // new containers never become healthy
	drainCode int
	log       []string
	minUp     int // the fewest running containers seen after the roll started
}

func (f *fakeService) running() int {
	n := 0
	for _, c := range f.ctrs {
		if c.Running {
			n++
		}
	}
	return n
}

func (f *fakeService) note(s string) {
	f.log = append(f.log, s)
	f.minUp = min(f.minUp, f.running())
}

func (f *fakeService) add(hash string, running bool) string {
	f.next++
	id := fmt.Sprintf("%s-c%d", hash, f.next)
	f.ctrs = append(f.ctrs, dockerio.Replica{ID: id, Name: fmt.Sprintf("p-app-%d", f.next), Number: f.next, ConfigHash: hash, Running: running})
	return id
}

func (f *fakeService) Replicas(ctx context.Context, project, service string) ([]dockerio.Replica, error) {
	return slices.Clone(f.ctrs), nil
}

func (f *fakeService) WaitReplicaHealthy(ctx context.Context, id string, timeout time.Duration) error {
	f.note("wait " + id)
	if f.unhealthy {
		return errors.New("container is running, health unhealthy")
	}
	return nil
}

func (f *fakeService) Exec(ctx context.Context, id string, cmd []string, stdin []byte) (int, []byte, error) {
	f.note("drain " + id)
	return f.drainCode, nil, nil
}

func (f *fakeService) Stop(ctx context.Context, id string, timeout time.Duration) error {
	if timeout != -1 {
		return fmt.Errorf("stop %s with timeout %s, want the container's own (-1)", id, timeout)
	}
	for i := range f.ctrs {
		if f.ctrs[i].ID == id {
			f.ctrs[i].Running = false
		}
	}
	f.note("stop " + id)
	return nil
}

func (f *fakeService) Remove(ctx context.Context, id string) error {
	f.ctrs = slices.DeleteFunc(f.ctrs, func(c dockerio.Replica) bool { return c.ID == id })
	f.note("remove " + id)
	return nil
}

func (f *fakeService) ConfigHash(ctx context.Context, service string) (string, error) {
	return f.hash, nil
}

func (f *fakeService) ScaleUp(ctx context.Context, service string, replicas int) error {
	if replicas != len(f.ctrs)+1 {
		return fmt.Errorf("scale %d with %d containers: compose would start more than one", replicas, len(f.ctrs))
	}
	f.note("start " + f.add(f.hash, true))
	return nil
}

func (f *fakeService) Up(ctx context.Context, services ...string) error {
	f.note("up")
	return nil
}

func rollFake(f *fakeService, spec StartFirst) error {
	f.minUp = f.running()
	return startFirst{engine: f, compose: f, project: "p", health: time.Second}.roll(context.Background(), "app", spec)
}

func (f *fakeService) ids(hash string) []string {
	var out []string
	for _, c := range f.ctrs {
		if c.ConfigHash == hash && c.Running {
			out = append(out, c.ID)
		}
	}
	return out
}

// TestStartFirstReplacesAfterHealthy: the new container starts and is healthy before the old one is
// drained and stopped (with its own stop timeout) and removed; one container remains, on the new config.
func TestStartFirstReplacesAfterHealthy(t *testing.T) {
	f := &fakeService{hash: "old"}
	f.add("old", true)
	f.hash = "new"
	if err := rollFake(f, StartFirst{DrainExec: []string{"drain"}}); err != nil {
		t.Fatal(err)
	}
	want := "start new-c2, wait new-c2, drain old-c1, stop old-c1, remove old-c1"
	if got := strings.Join(f.log, ", "); got != want {
		t.Errorf("steps:\n got  %s\n want %s", got, want)
	}
	if len(f.ctrs) != 1 || f.ctrs[0].ConfigHash != "new" || f.minUp < 1 {
		t.Errorf("containers %+v, fewest running %d", f.ctrs, f.minUp)
	}
}

// TestStartFirstUnhealthyKeepsOld: a new container that never turns healthy is removed; the old one is
// never stopped and keeps its ID.
func TestStartFirstUnhealthyKeepsOld(t *testing.T) {
	f := &fakeService{hash: "old", unhealthy: true}
	f.add("old", true)
	f.hash = "new"
	err := rollFake(f, StartFirst{})
	if err == nil || !strings.Contains(err.Error(), "did not become healthy") {
		t.Fatalf("err = %v", err)
	}
	if got := strings.Join(f.log, ", "); got != "start new-c2, wait new-c2, remove new-c2" {
		t.Errorf("steps: %s", got)
	}
	if len(f.ctrs) != 1 || f.ctrs[0].ID != "old-c1" || !f.ctrs[0].Running {
		t.Errorf("containers %+v", f.ctrs)
	}
}

// TestStartFirstConvergesAfterCrash: killed between start and stop, the sources restored by the rollback
// make the old container current again: the roll removes the new one and starts nothing.
func TestStartFirstConvergesAfterCrash(t *testing.T) {
	f := &fakeService{}
	f.add("old", true)
	f.add("new", true)
	f.hash = "old" // the rollback restored the old sources
	if err := rollFake(f, StartFirst{}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.log, ", "); got != "stop new-c2, remove new-c2" {
		t.Errorf("steps: %s", got)
	}
	if got := f.ids("old"); len(f.ctrs) != 1 || len(got) != 1 || got[0] != "old-c1" {
		t.Errorf("containers %+v", f.ctrs)
	}
	// Resumed forward instead (the sources hold the new value): the old one goes.
	f = &fakeService{}
	f.add("old", true)
	f.add("new", true)
	f.hash = "new"
	if err := rollFake(f, StartFirst{}); err != nil {
		t.Fatal(err)
	}
	if got := f.ids("new"); len(f.ctrs) != 1 || len(got) != 1 || got[0] != "new-c2" {
		t.Errorf("containers %+v", f.ctrs)
	}
}

// TestStartFirstReplicas: three replicas roll one at a time, never fewer than three running.
func TestStartFirstReplicas(t *testing.T) {
	for _, replicas := range []int{3, 0} { // declared in compose, or as many as run
		f := &fakeService{}
		for range 3 {
			f.add("old", true)
		}
		f.hash = "new"
		if err := rollFake(f, StartFirst{Replicas: replicas}); err != nil {
			t.Fatal(err)
		}
		if n := len(f.ids("new")); n != 3 || len(f.ctrs) != 3 || f.minUp < 3 {
			t.Errorf("replicas %d: %d new of %d, fewest running %d; steps %v", replicas, n, len(f.ctrs), f.minUp, f.log)
		}
		if f.log[0] != "start new-c4" || f.log[3] != "remove old-c3" {
			t.Errorf("replicas %d: steps %v, want the highest number retired first", replicas, f.log)
		}
	}
}

// TestStartFirstDrainFailureKeepsOld: a failed drain command fails the roll with the old container still
// running.
func TestStartFirstDrainFailureKeepsOld(t *testing.T) {
	f := &fakeService{drainCode: 3}
	f.add("old", true)
	f.hash = "new"
	err := rollFake(f, StartFirst{DrainExec: []string{"/bin/drain"}})
	if err == nil || !strings.Contains(err.Error(), "failed to drain p-app-1 (/bin/drain) of app: exit code 3") {
		t.Fatalf("err = %v", err)
	}
	if got := f.ids("old"); len(got) != 1 {
		t.Errorf("old container stopped: %+v", f.ctrs)
	}
}

// TestStartFirstNothingRunning: a stopped service (a swap stopped it) starts through compose up.
func TestStartFirstNothingRunning(t *testing.T) {
	f := &fakeService{}
	f.add("old", false)
	f.hash = "new"
	if err := rollFake(f, StartFirst{}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.log, ", "); got != "up" {
		t.Errorf("steps: %s", got)
	}
}
