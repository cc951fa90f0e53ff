package dockerio

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// waitHealthyProject has one service for each way a wait can end.
const waitHealthyProject = `
services:
  healthy:
    image: {{IMAGE}}
    healthcheck: &hc
      test: ["CMD", "/app", "health"]
      interval: 1s
      timeout: 1s
      retries: 2
  plain:
    image: {{IMAGE}}
    scale: 2
  unhealthy:
    image: {{IMAGE}}
    environment:
      HEALTH: fail
    healthcheck: *hc
  exits:
    image: {{IMAGE}}
    environment:
      EXIT_AFTER: 500ms
      EXIT_CODE: "7"
  crashloop:
    image: {{IMAGE}}
    restart: always
    environment:
      EXIT_AFTER: 500ms
      EXIT_CODE: "3"
  slow:
    image: {{IMAGE}}
    healthcheck:
      test: ["CMD", "/app", "health"]
      interval: 1m
`

func TestWaitHealthy(t *testing.T) {
	e := needDocker(t)
	t.Parallel()
	ctx := testCtx(t)
	c := newProject(t, waitHealthyProject, "")
	// The first up creates the project network; the subtests then recreate
	// their own service and wait on it at once, as rekey does.
	up(t, ctx, c, "slow")

	// wait ups service and waits for it, logging how long each took.
	wait := func(t *testing.T, service string, timeout time.Duration) (time.Duration, error) {
		up(t, ctx, c, service)
		start := time.Now()
		err := e.WaitHealthy(ctx, c.Project, service, timeout)
		d := time.Since(start)
		t.Logf("wait %s: %s: %v", service, d.Round(time.Millisecond), err)
		return d, err
	}

	t.Run("healthcheck", func(t *testing.T) {
		t.Parallel()
		if _, err := wait(t, "healthy", 30*time.Second); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("no healthcheck, stable", func(t *testing.T) {
		t.Parallel()
		d, err := wait(t, "plain", 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if d < 2*time.Second {
			t.Errorf("accepted after %s, before the 2s stable window", d)
		}
	})
	t.Run("unhealthy", func(t *testing.T) {
		t.Parallel()
		d, err := wait(t, "unhealthy", 60*time.Second)
		if err == nil {
			t.Fatal("want an error")
		}
		wantAll(t, err, "service unhealthy", c.Project+"-unhealthy-1", "is running", "health unhealthy", " failing probes")
		if m := regexp.MustCompile(`(\d+) failing probes`).FindStringSubmatch(err.Error()); m == nil || m[1] == "0" || m[1] == "1" {
			t.Errorf("want at least 2 (the retries) failing probes: %v", err)
		}
		if strings.Contains(err.Error(), "SECRET-PROBE-OUTPUT") {
			t.Error("the error carries probe output")
		}
		if d > 20*time.Second {
			t.Error("did not fail fast")
		}
	})
	t.Run("exited", func(t *testing.T) {
		t.Parallel()
		d, err := wait(t, "exits", 60*time.Second)
		if err == nil {
			t.Fatal("want an error")
		}
		wantAll(t, err, "service exits", c.Project+"-exits-1", "is exited", "exit code 7", "no healthcheck")
		if d > 20*time.Second {
			t.Error("did not fail fast")
		}
	})
	t.Run("crash loop", func(t *testing.T) {
		t.Parallel()
		d, err := wait(t, "crashloop", 60*time.Second)
		if err == nil {
			t.Fatal("want an error")
		}
		wantAll(t, err, "service crashloop", "exit code 3", "restart")
		if d > 20*time.Second {
			t.Error("did not fail fast")
		}
	})
	t.Run("exit code of a crash the engine already restarted", func(t *testing.T) {
		t.Parallel()
		// Docker resets the state's exit code when the restart policy runs the
		// container again; the events still hold it. Catch the container
		// running after at least one crash and ask for the code.
		began := time.Now()
		up(t, ctx, c, "crashloop")
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			list, err := e.list(ctx, c.Project, "crashloop")
			if err != nil || len(list) == 0 {
				t.Fatalf("list: %v (%d containers)", err, len(list))
			}
			insp, err := e.cli.ContainerInspect(ctx, list[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			if insp.RestartCount > 0 && insp.State.Running && insp.State.ExitCode == 0 {
				if got := e.lastExitCode(ctx, insp.ID, began, -1); got != 3 {
					t.Fatalf("lastExitCode = %d, want 3", got)
				}
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatal("never saw the container running again after a crash")
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		// 5 s, far below the 1 m interval, so the container is still starting; long enough that a loaded
		// machine answers the first inspect within it (1.5 s did not, once, beside a full test run).
		err := e.WaitHealthy(ctx, c.Project, "slow", 5*time.Second)
		t.Logf("error: %v", err)
		if err == nil {
			t.Fatal("want an error")
		}
		wantAll(t, err, "service slow not healthy after 5s", "health starting", "0 failing probes")
	})
	t.Run("no containers", func(t *testing.T) {
		t.Parallel()
		err := e.WaitHealthy(ctx, c.Project, "absent", 5*time.Second)
		if err == nil {
			t.Fatal("want an error")
		}
		wantAll(t, err, "no containers")
	})
}

// A container that turns unhealthy after being healthy fails the wait, and
// one that recovers passes it.
func TestWaitHealthyTurnsUnhealthy(t *testing.T) {
	e := needDocker(t)
	t.Parallel()
	ctx := testCtx(t)
	c := newProject(t, `
services:
  a:
    image: {{IMAGE}}
    healthcheck:
      test: ["CMD", "/app", "health"]
      interval: 1s
      retries: 1
`, "")
	up(t, ctx, c, "a")
	if err := e.WaitHealthy(ctx, c.Project, "a", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	id := one(t, ctx, e, c, "a").ID
	// The scratch image has no shell: the app creates the marker file.
	if code, out, err := e.Exec(ctx, id, []string{"/app", "touch", "/tmp/unhealthy"}, nil); err != nil || code != 0 {
		t.Fatalf("exec touch: %d %v %s", code, err, out)
	}
	start := time.Now()
	for {
		if x := one(t, ctx, e, c, "a"); x.Health == HealthUnhealthy {
			break
		}
		if time.Since(start) > 20*time.Second {
			t.Fatal("the container did not turn unhealthy")
		}
		time.Sleep(100 * time.Millisecond)
	}
	err := e.WaitHealthy(ctx, c.Project, "a", 30*time.Second)
	if err == nil {
		t.Fatal("want an error")
	}
	wantAll(t, err, "health unhealthy", "1 failing probes")

	if code, out, err := e.Exec(ctx, id, []string{"/app", "rm", "/tmp/unhealthy"}, nil); err != nil || code != 0 {
		t.Fatalf("exec rm: %d %v %s", code, err, out)
	}
	for {
		if x := one(t, ctx, e, c, "a"); x.Health == HealthHealthy {
			break
		}
		if time.Since(start) > 40*time.Second {
			t.Fatal("the container did not recover")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := e.WaitHealthy(ctx, c.Project, "a", 30*time.Second); err != nil {
		t.Fatal(err)
	}
}
