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

// TestReplacedValues: a container is known stale when one of its variables holds a value a write
// replaced; empty values say nothing, and a restore forgets everything.
func TestReplacedValues(t *testing.T) {
	var v replacedValues
	env := map[string]string{"KEY": "k-old", "EMPTY": "", "OTHER": "x"}
	if v.heldBy(env) {
		t.Fatal("held before anything was replaced")
	}
	v.add("")
	if v.heldBy(env) {
		t.Error("an empty value replaced makes a container with an empty variable stale")
	}
	v.add("k-old")
	if !v.heldBy(env) {
		t.Error("a container holding a replaced value is not seen stale")
	}
	if v.heldBy(map[string]string{"KEY": "k-new"}) {
		t.Error("a container holding only the new value is seen stale")
	}
	v.reset()
	if v.heldBy(env) {
		t.Error("still stale after a restore")
	}
}
