package composeio

import (
	"context"
	"path/filepath"
	"testing"
)

// WithProbe: the combined probe loads during Load, and ConsumersOfVars asked about the same names loads
// nothing more, with the answers of a project that probes when asked.
func TestProbeDuringLoad(t *testing.T) {
	ctx := context.Background()
	names := []string{"STRIPE_KEY", "API_TOKEN", "LOG_LEVEL", "API_TOKEN"}
	p := loadShop(t, WithProbe(names...))
	if n := p.loads.Load(); n != 2 {
		t.Errorf("Load with WithProbe: %d loads, want 2 (the project and the probe)", n)
	}
	got, err := p.ConsumersOfVars(ctx, []string{"API_TOKEN", "LOG_LEVEL", "STRIPE_KEY"})
	if err != nil {
		t.Fatal(err)
	}
	if n := p.loads.Load(); n != 2 {
		t.Errorf("after ConsumersOfVars: %d loads, want 2: the probe of Load was not used", n)
	}
	want, err := loadShop(t).ConsumersOfVars(ctx, names)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "consumers", got, want)

	// The probe is used once: asked again, ConsumersOfVars loads a probe of its own.
	again, err := p.ConsumersOfVars(ctx, names)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "consumers asked again", again, want)
	if n := p.loads.Load(); n != 3 {
		t.Errorf("asked again: %d loads, want 3", n)
	}
}

// A probe of other names than Load's is loaded when asked, and answers for its own names.
func TestProbeDuringLoadOtherNames(t *testing.T) {
	ctx := context.Background()
	p := loadShop(t, WithProbe("API_TOKEN", "LOG_LEVEL"))
	got, err := p.ConsumersOfVars(ctx, []string{"STRIPE_KEY", "API_TOKEN"})
	if err != nil {
		t.Fatal(err)
	}
	if n := p.loads.Load(); n != 3 {
		t.Errorf("%d loads, want 3 (the project, Load's probe, the probe asked for)", n)
	}
	want, err := loadShop(t).ConsumersOfVars(ctx, []string{"STRIPE_KEY", "API_TOKEN"})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "consumers", got, want)
}

// A file edited after Load: the probe Load ran belongs to the project as it was, and is not compared
// against a fresh base.
func TestProbeDuringLoadNotUsedAfterEdit(t *testing.T) {
	ctx := context.Background()
	const compose = `services:
  app:
    image: busybox
    environment: {X: "${A}", Y: "${B}"}
`
	dir := writeProject(t, map[string]string{"compose.yaml": compose, ".env": "A=1\nB=2\n"})
	p, err := Load(ctx, dir, WithProbe("A", "B"))
	if err != nil {
		t.Fatal(err)
	}
	rewrite(t, filepath.Join(dir, "compose.yaml"), `services:
  app:
    image: busybox
    environment: {X: "${B}", Y: "${B}"}
`)
	got, err := p.ConsumersOfVars(ctx, []string{"A", "B"})
	if err != nil {
		t.Fatal(err)
	}
	if n := p.loads.Load(); n != 4 {
		t.Errorf("%d loads, want 4 (the project, Load's probe, a fresh base, its probe)", n)
	}
	if len(got["A"]) != 0 || len(got["B"]) != 1 {
		t.Errorf("consumers after the edit = %v, want none of A, app for B", got)
	}
}
