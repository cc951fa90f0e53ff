package live

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// gatedRemove is a fake engine whose removals wait for gate, then fail with err (nil: succeed).
type gatedRemove struct {
	*fakeService
	gate chan struct{}
	err  error
}

func (g gatedRemove) Remove(ctx context.Context, id string) error {
	<-g.gate
	if g.err != nil {
		return g.err
	}
	return g.fakeService.Remove(ctx, id)
}

// TestStartFirstRemovesInBackground: the roll returns once the old container stopped; until its removal
// ends, it counts as removing (left out of health gates and checks), and settle waits for it.
func TestStartFirstRemovesInBackground(t *testing.T) {
	f := &fakeService{hash: "old"}
	f.add("old", true)
	f.hash = "new"
	eng := gatedRemove{fakeService: f, gate: make(chan struct{})}
	var rm removals
	r := startFirst{engine: eng, compose: f, project: "p", health: time.Second, removals: &rm}
	if err := r.roll(context.Background(), "app", StartFirst{}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.log, ", "); got != "start new-c2, wait new-c2, stop old-c1" {
		t.Errorf("steps before the removal: %s", got)
	}
	if !rm.removing("old-c1") || rm.removing("new-c2") {
		t.Error("old-c1 should be removing, new-c2 not")
	}
	close(eng.gate)
	if err := rm.settle(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rm.removing("old-c1") || len(f.ctrs) != 1 || f.ctrs[0].ID != "new-c2" {
		t.Errorf("after settle: removing %v, containers %+v", rm.removing("old-c1"), f.ctrs)
	}
}

// TestRemovalFailureSettles: a failed removal is reported by settle, once, with its service.
func TestRemovalFailureSettles(t *testing.T) {
	f := &fakeService{hash: "old"}
	f.add("old", true)
	f.hash = "new"
	eng := gatedRemove{fakeService: f, gate: make(chan struct{}), err: errors.New("device busy")}
	close(eng.gate)
	var rm removals
	r := startFirst{engine: eng, compose: f, project: "p", health: time.Second, removals: &rm}
	if err := r.roll(context.Background(), "app", StartFirst{}); err != nil {
		t.Fatal(err)
	}
	err := rm.settle(context.Background())
	if err == nil || !strings.Contains(err.Error(), "service app: device busy") {
		t.Fatalf("settle = %v", err)
	}
	if err := rm.settle(context.Background()); err != nil {
		t.Errorf("second settle = %v, want nil", err)
	}
}

// TestStartFirstReplicasWaitForRemoval: with replicas, the next container starts only once the previous
// old one is removed: Compose would count it (or start it again) otherwise.
func TestStartFirstReplicasWaitForRemoval(t *testing.T) {
	f := &fakeService{}
	for range 2 {
		f.add("old", true)
	}
	f.hash = "new"
	eng := gatedRemove{fakeService: f, gate: make(chan struct{})}
	close(eng.gate)
	var rm removals
	r := startFirst{engine: eng, compose: f, project: "p", health: time.Second, removals: &rm}
	if err := r.roll(context.Background(), "app", StartFirst{Replicas: 2}); err != nil {
		t.Fatal(err)
	}
	if err := rm.settle(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := "start new-c3, wait new-c3, stop old-c2, remove old-c2, start new-c4, wait new-c4, stop old-c1, remove old-c1"
	if got := strings.Join(f.log, ", "); got != want {
		t.Errorf("steps:\n got  %s\n want %s", got, want)
	}
}
