package live

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/reconcile"
)

// fakeHashes answers `compose config --hash` from a map and records each run.
type fakeHashes struct {
	now    map[string]string
	runs   []string
	during func() // runs inside each call, as if something happened while compose ran
	refuse string // a service compose does not know
}

func (f *fakeHashes) ConfigHashes(ctx context.Context, services ...string) (map[string]string, error) {
	f.runs = append(f.runs, strings.Join(services, ","))
	if f.during != nil {
		f.during()
	}
	out := map[string]string{}
	for _, s := range services {
		if s == f.refuse {
			return nil, errors.New("no such service: " + s)
		}
		out[s] = f.now[s]
	}
	return out, nil
}

func TestConfigHashesOneComposeRunPerWrite(t *testing.T) {
	ctx := context.Background()
	f := &fakeHashes{now: map[string]string{"app": "a1", "worker": "w1"}}
	h := &configHashes{}
	all := []string{"app", "worker"}
	for _, svc := range []string{"app", "worker", "app"} {
		if got, err := h.hash(ctx, f, svc, all); err != nil || got != f.now[svc] {
			t.Fatalf("hash(%s) = %q, %v", svc, got, err)
		}
	}
	if want := []string{"app,worker"}; !slices.Equal(f.runs, want) {
		t.Errorf("compose runs %v, want %v: one for the phase's consumers", f.runs, want)
	}

	// A write: the next roll sees the new configuration, computed again (with itself first).
	h.forget()
	f.now = map[string]string{"app": "a2", "worker": "w2"}
	if got, err := h.hash(ctx, f, "worker", all); err != nil || got != "w2" {
		t.Fatalf("after a write: hash(worker) = %q, %v; want w2", got, err)
	}
	if got, _ := h.hash(ctx, f, "app", all); got != "a2" {
		t.Errorf("after a write: hash(app) = %q, want a2", got)
	}
	if want := []string{"app,worker", "worker,app"}; !slices.Equal(f.runs, want) {
		t.Errorf("compose runs %v, want %v", f.runs, want)
	}
}

// A write while compose computes: what it printed may be of the old sources, so it is not kept.
func TestConfigHashesWriteDuringComputeIsNotKept(t *testing.T) {
	ctx := context.Background()
	h := &configHashes{}
	f := &fakeHashes{now: map[string]string{"app": "a1", "worker": "w1"}}
	f.during = func() { h.forget(); f.during = nil }
	if _, err := h.hash(ctx, f, "app", []string{"app", "worker"}); err != nil {
		t.Fatal(err)
	}
	f.now["worker"] = "w2"
	if got, _ := h.hash(ctx, f, "worker", []string{"app", "worker"}); got != "w2" {
		t.Errorf("hash(worker) = %q, want w2: a result computed across a write was kept", got)
	}
	if len(f.runs) != 2 {
		t.Errorf("compose runs %v, want 2", f.runs)
	}
}

// Another service's error is not this roll's: it gets its own hash and nothing is kept.
func TestConfigHashesFallBackToTheOneService(t *testing.T) {
	ctx := context.Background()
	h := &configHashes{}
	f := &fakeHashes{now: map[string]string{"app": "a1"}, refuse: "gone"}
	for i := 0; i < 2; i++ {
		if got, err := h.hash(ctx, f, "app", []string{"app", "gone"}); err != nil || got != "a1" {
			t.Fatalf("hash(app) = %q, %v", got, err)
		}
	}
	if want := []string{"app,gone", "app", "app,gone", "app"}; !slices.Equal(f.runs, want) {
		t.Errorf("compose runs %v, want %v", f.runs, want)
	}
	f.refuse = "app"
	if _, err := h.hash(ctx, f, "app", []string{"app"}); err == nil {
		t.Error("want the roll's own error")
	}
}

// Files calls Written around every write, and the Stack wired to it forgets its hashes: no roll after a
// write to a source can use a hash computed before it.
func TestFileWritesForgetTheStacksHashes(t *testing.T) {
	ctx := context.Background()
	s := &Stack{StartFirst: map[string]StartFirst{"worker": {}, "app": {}}}
	if c, ok := s.rollCompose().(cachedHashes); ok || c.cache != nil {
		t.Fatal("hashes shared before ShareConfigHashes")
	}
	root := t.TempDir()
	fs := Files{Root: root, Written: s.ShareConfigHashes()}
	c, ok := s.rollCompose().(cachedHashes)
	if !ok || !slices.Equal(c.services, []string{"app", "worker"}) {
		t.Fatalf("roll compose %#v, want the shared hashes of app and worker", s.rollCompose())
	}
	f := &fakeHashes{now: map[string]string{"app": "a1", "worker": "w1"}}
	c.lister = f
	if got, _ := c.ConfigHash(ctx, "app"); got != "a1" {
		t.Fatalf("hash(app) = %q", got)
	}
	if err := fs.WriteValue(ctx, reconcile.Location{Path: filepath.Join(root, ".env"), Key: "K"}, "v"); err != nil {
		t.Fatal(err)
	}
	f.now["worker"] = "w2"
	if got, _ := c.ConfigHash(ctx, "worker"); got != "w2" {
		t.Errorf("hash(worker) after a write = %q, want w2", got)
	}
	if err := fs.WriteFile(ctx, filepath.Join(root, ".env"), []byte("K=w\n")); err != nil { // a restore
		t.Fatal(err)
	}
	f.now["app"] = "a3"
	if got, _ := c.ConfigHash(ctx, "app"); got != "a3" {
		t.Errorf("hash(app) after a restore = %q, want a3", got)
	}
	if len(f.runs) != 3 {
		t.Errorf("compose runs %v, want 3 (one after each write)", f.runs)
	}
}
