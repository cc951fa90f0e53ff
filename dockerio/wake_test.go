package dockerio

import (
	"testing"
	"time"
)

// TestWaitWakesOnHealthEvent: with a poll far longer than the healthcheck's interval, both waits still end
// about when the engine reports the container healthy: its events wake them, not the next poll.
func TestWaitWakesOnHealthEvent(t *testing.T) {
	needDocker(t)
	t.Parallel()
	ctx := testCtx(t)
	e, err := New(ctx, WithHost(testHost), WithPollInterval(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	c := newProject(t, `
services:
  a:
    image: {{IMAGE}}
    healthcheck:
      test: ["CMD", "/app", "health"]
      interval: 1s
      timeout: 1s
      retries: 2
`, "")
	up(t, ctx, c, "a")
	start := time.Now()
	if err := e.WaitHealthy(ctx, c.Project, "a", 30*time.Second); err != nil {
		t.Fatalf("WaitHealthy: %v", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("WaitHealthy took %s: not woken by the health event", d)
	}
	// A second container of the service, waited for by ID.
	if _, err := c.Run(ctx, "up", "-d", "--no-deps", "--no-recreate", "--scale", "a=2", "a"); err != nil {
		t.Fatal(err)
	}
	list, err := e.Replicas(ctx, c.Project, "a")
	if err != nil || len(list) != 2 {
		t.Fatalf("replicas %+v: %v", list, err)
	}
	start = time.Now()
	if err := e.WaitReplicaHealthy(ctx, list[1].ID, 30*time.Second); err != nil {
		t.Fatalf("WaitReplicaHealthy: %v", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("WaitReplicaHealthy took %s: not woken by the health event", d)
	}
}
