package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/composeio"
)

// bootStackDir copies the demo stack with B2-through-the-proxy's overlay into a temporary directory, as
// newOverlayStack does (without starting it), and adds a boot delay.
func bootStackDir(t *testing.T, boot time.Duration) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "stack")
	for _, src := range []string{"examples/demo/stack", b2pOverlay + "/."} {
		if out, err := exec.Command("cp", "-a", root+"/"+src, dir).CombinedOutput(); err != nil { // not Join: it drops "/."
			t.Fatalf("cp: %v: %s", err, out)
		}
	}
	if err := b2pBootStack(dir, boot); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestB2pBootStack: the project as rekey (and docker compose, through the same COMPOSE_FILE) loads it has
// the app on the bench's image with DEMOAPP_BOOT_DELAY, the aclfile overlay still applied, and the demo's
// healthcheck unchanged for a boot the healthcheck tolerates.
func TestB2pBootStack(t *testing.T) {
	dir := bootStackDir(t, 2*time.Second)
	p, err := composeio.Load(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if files := p.Files(); len(files) != 3 || filepath.Base(files[2]) != b2pBootFile {
		t.Fatalf("compose files %v, want compose.yaml, compose.override.yaml, %s", files, b2pBootFile)
	}
	app, err := p.Types().GetService("app")
	if err != nil {
		t.Fatal(err)
	}
	if app.Image != b2pBootImage {
		t.Errorf("app image %q, want %q", app.Image, b2pBootImage)
	}
	if v := app.Environment["DEMOAPP_BOOT_DELAY"]; v == nil || *v != "2s" {
		t.Errorf("DEMOAPP_BOOT_DELAY = %v, want 2s", v)
	}
	if v := app.Environment["SESSION_SECRET"]; v == nil || *v == "" {
		t.Error("the app's own environment was lost in the merge")
	}
	hc := app.HealthCheck
	if hc == nil || hc.StartPeriod != nil || hc.Interval == nil || time.Duration(*hc.Interval) != time.Second || hc.Retries == nil || *hc.Retries != 3 {
		t.Errorf("app healthcheck %+v, want the demo's (interval 1s, retries 3, no start_period)", hc)
	}
	redis, err := p.Types().GetService("redis")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(redis.Command, "--aclfile") {
		t.Errorf("redis command %v: the aclfile overlay is not applied", redis.Command)
	}
}

// TestB2pBootStartPeriod: a boot longer than the healthcheck tolerates gets a start_period, the rest of
// the healthcheck kept.
func TestB2pBootStartPeriod(t *testing.T) {
	p, err := composeio.Load(context.Background(), bootStackDir(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	app, err := p.Types().GetService("app")
	if err != nil {
		t.Fatal(err)
	}
	hc := app.HealthCheck
	if hc == nil || hc.StartPeriod == nil || time.Duration(*hc.StartPeriod) != 8*time.Second {
		t.Fatalf("app healthcheck %+v, want start_period 8s", hc)
	}
	if !strings.Contains(strings.Join(hc.Test, " "), "/demoapp probe") || *hc.Retries != 3 {
		t.Errorf("app healthcheck %+v: the demo's test and retries lost", hc)
	}
}

// TestB2pBootStackRefusesComposeFile: a stack whose .env names its files already is not silently changed.
func TestB2pBootStackRefusesComposeFile(t *testing.T) {
	dir := bootStackDir(t, time.Second)
	if err := b2pBootStack(dir, time.Second); err == nil || !strings.Contains(err.Error(), "COMPOSE_FILE already") {
		t.Fatalf("second b2pBootStack: %v, want an error about COMPOSE_FILE", err)
	}
}
