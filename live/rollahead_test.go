package live

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/dockerio"
)

// rollAhead rolls f's service with the running containers expected stale (ahead says so).
func rollAhead(f *fakeService, spec StartFirst) error {
	f.minUp = f.running()
	ahead := func(context.Context, string, []dockerio.Replica) bool { return true }
	return startFirst{engine: f, compose: f, project: "p", health: time.Second, ahead: ahead}.roll(context.Background(), "app", spec)
}

// TestStartAheadOfTheHash: with the containers expected stale, the new one is started while the hash is
// computed (the fake's hash answers only after a start), and the roll's steps are the usual ones.
func TestStartAheadOfTheHash(t *testing.T) {
	f := &fakeService{hash: "old", hashAfterStart: make(chan struct{})}
	f.add("old", true)
	f.hash = "new"
	if err := rollAhead(f, StartFirst{}); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(f.log, ", "), "start new-c2, wait new-c2, stop old-c1, remove old-c1"; got != want {
		t.Errorf("steps:\n got  %s\n want %s", got, want)
	}
	if len(f.ctrs) != 1 || f.ctrs[0].ConfigHash != "new" || f.minUp < 1 {
		t.Errorf("containers %+v, fewest running %d", f.ctrs, f.minUp)
	}
}

// TestStartAheadSameStepsAsAfterTheHash: replicas roll exactly as when the hash comes first: the start
// made ahead is the roll's first start, not one more (never more containers than without it).
func TestStartAheadSameStepsAsAfterTheHash(t *testing.T) {
	for _, replicas := range []int{3, 0} {
		var logs [2]string
		for i, roll := range []func(*fakeService, StartFirst) error{rollFake, rollAhead} {
			f := &fakeService{}
			for range 3 {
				f.add("old", true)
			}
			f.hash = "new"
			if err := roll(f, StartFirst{Replicas: replicas}); err != nil {
				t.Fatal(err)
			}
			logs[i] = strings.Join(f.log, ", ")
		}
		if logs[0] != logs[1] {
			t.Errorf("replicas %d: steps differ:\n hash first %s\n ahead      %s", replicas, logs[0], logs[1])
		}
	}
}

// TestStartAheadNotNeeded: when the hash says the containers were current after all, the container
// started ahead is removed before anything waited for it, and the old one keeps serving untouched.
func TestStartAheadNotNeeded(t *testing.T) {
	f := &fakeService{hash: "same"}
	f.add("same", true)
	if err := rollAhead(f, StartFirst{}); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(f.log, ", "), "start same-c2, remove same-c2"; got != want {
		t.Errorf("steps:\n got  %s\n want %s", got, want)
	}
	if len(f.ctrs) != 1 || f.ctrs[0].ID != "same-c1" || !f.ctrs[0].Running {
		t.Errorf("containers %+v", f.ctrs)
	}
	// A roll resumed after a crash finds old and new side by side: the hash decides, as without ahead.
	f = &fakeService{}
	f.add("old", true)
	f.add("new", true)
	f.hash = "new"
	if err := rollAhead(f, StartFirst{}); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(f.log, ", "), "start new-c3, remove new-c3, stop old-c1, remove old-c1"; got != want {
		t.Errorf("resumed, steps:\n got  %s\n want %s", got, want)
	}
	if got := f.ids("new"); len(f.ctrs) != 1 || len(got) != 1 || got[0] != "new-c2" {
		t.Errorf("resumed, containers %+v", f.ctrs)
	}
}

// TestStartAheadHashFails: Compose failing to compute the hash fails the roll; the container started
// ahead is removed and the old one keeps serving.
func TestStartAheadHashFails(t *testing.T) {
	f := &fakeService{hash: "old", hashErr: errors.New("compose: no such service")}
	f.add("old", true)
	f.hash = "new"
	err := rollAhead(f, StartFirst{})
	if err == nil || !strings.Contains(err.Error(), "no such service") {
		t.Fatalf("err = %v", err)
	}
	if got, want := strings.Join(f.log, ", "), "start new-c2, remove new-c2"; got != want {
		t.Errorf("steps:\n got  %s\n want %s", got, want)
	}
	if len(f.ctrs) != 1 || f.ctrs[0].ID != "old-c1" || !f.ctrs[0].Running {
		t.Errorf("containers %+v", f.ctrs)
	}
}

// TestReplacedValues: a container is known stale when one of its variables holds a value a write of the
// run replaced; empty values say nothing; a write putting a replaced value back, or a restore, forgets
// everything.
func TestReplacedValues(t *testing.T) {
	oldApp := map[string]string{"KEY": "k-old", "KEY_PREVIOUS": "", "EMPTY": ""}
	var v replacedValues
	if v.heldBy(oldApp) {
		t.Fatal("held before anything was replaced")
	}
	// Staged (previous first, as the executor writes): previous "" → k-old, current k-old → k-new.
	v.add("", "k-old")
	if v.heldBy(oldApp) || v.heldBy(map[string]string{"EMPTY": ""}) {
		t.Error("an empty value replaced makes containers stale")
	}
	v.add("k-old", "k-new")
	if !v.heldBy(oldApp) {
		t.Error("a container holding the replaced k-old is not seen stale")
	}
	if v.heldBy(map[string]string{"KEY": "k-new", "KEY_PREVIOUS": "", "EMPTY": ""}) {
		t.Error("a container holding only the new value and empty ones is seen stale")
	}
	// Previous dropped: k-old → "". The container of the staged roll holds it.
	v.add("k-old", "")
	if !v.heldBy(map[string]string{"KEY": "k-new", "KEY_PREVIOUS": "k-old"}) {
		t.Error("after previous was dropped, a container still holding it is not seen stale")
	}
	// Put back value by value (a rollback that could not restore the whole file): nothing is stale.
	v.add("k-new", "k-old")
	if !v.empty() || v.heldBy(oldApp) {
		t.Error("after a replaced value was put back, the old container is seen stale")
	}
	v.add("k-old", "k-new")
	v.reset()
	if !v.empty() || v.heldBy(oldApp) {
		t.Error("still stale after a restore")
	}
}

// envOf is the environment of fake containers by ID.
type envOf map[string]map[string]string

func (e envOf) Env(_ context.Context, id string) (map[string]string, error) {
	env, ok := e[id]
	if !ok {
		return nil, errors.New("no such container")
	}
	return env, nil
}

// TestStaleNeedsEveryRunningContainer: the roll starts ahead only when every running container holds a
// replaced value; one that does not, or cannot be inspected, or none running, or nothing replaced: no.
func TestStaleNeedsEveryRunningContainer(t *testing.T) {
	var v replacedValues
	env := envOf{"a": {"KEY": "k-old"}, "b": {"KEY": "k-old"}, "c": {"KEY": "k-new"}}
	a, b, c, gone := dockerio.Replica{ID: "a"}, dockerio.Replica{ID: "b"}, dockerio.Replica{ID: "c"}, dockerio.Replica{ID: "gone"}
	ctx := context.Background()
	if v.stale(ctx, env, []dockerio.Replica{a}) {
		t.Error("stale with nothing replaced")
	}
	v.add("k-old", "k-new")
	for _, tc := range []struct {
		running []dockerio.Replica
		want    bool
	}{{[]dockerio.Replica{a, b}, true}, {[]dockerio.Replica{a, c}, false}, {[]dockerio.Replica{a, gone}, false}, {nil, false}} {
		if got := v.stale(ctx, env, tc.running); got != tc.want {
			t.Errorf("running %v: stale %v, want %v", tc.running, got, tc.want)
		}
	}
}

// TestStaleAheadNotWhenTheHashIsKnown: a service whose hash is already kept (the second consumer of a
// phase) has no Compose run to hide: no container is inspected.
func TestStaleAheadNotWhenTheHashIsKnown(t *testing.T) {
	s := &Stack{} // no engine: inspecting a container would panic
	s.ShareConfigHashes()
	replaced, _ := s.StartAhead()
	replaced("k-old", "k-new")
	s.hashes.hashes = map[string]string{"worker": "h"}
	if s.staleAhead(context.Background(), "worker", []dockerio.Replica{{ID: "w1", Running: true}}) {
		t.Error("starts ahead of a hash already known")
	}
}

// TestStartAheadFailedStartNotNeeded: when the start made ahead fails before the hash is known and the
// hash then says the roll would not have made it, the roll goes on from the hash (nothing to do here),
// as it would have without the early start; when the hash calls for it, its failure is the roll's.
func TestStartAheadFailedStartNotNeeded(t *testing.T) {
	f := &fakeService{hash: "same", scaleErr: errors.New("compose up failed")}
	f.add("same", true)
	if err := rollAhead(f, StartFirst{}); err != nil {
		t.Fatalf("roll failed on a start it did not need: %v", err)
	}
	if len(f.ctrs) != 1 || f.ctrs[0].ID != "same-c1" || !f.ctrs[0].Running {
		t.Errorf("containers %+v", f.ctrs)
	}
	f = &fakeService{hash: "old", scaleErr: errors.New("compose up failed")}
	f.add("old", true)
	f.hash = "new"
	if err := rollAhead(f, StartFirst{}); err == nil || !strings.Contains(err.Error(), "compose up failed") {
		t.Fatalf("err = %v, want the start's failure", err)
	}
}
