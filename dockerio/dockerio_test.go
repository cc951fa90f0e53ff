package dockerio

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
)

func TestNewUnreachable(t *testing.T) {
	host := "unix://" + filepath.Join(t.TempDir(), "nope.sock")
	_, err := New(context.Background(), WithHost(host))
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"cannot reach the Docker engine at " + host, "is dockerd running?"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestContainersByLabels(t *testing.T) {
	e := needDocker(t)
	t.Parallel()
	ctx := testCtx(t)
	c := newProject(t, `
services:
  a:
    image: {{IMAGE}}
    scale: 2
  b:
    image: {{IMAGE}}
    healthcheck:
      test: ["CMD", "/app", "health"]
      interval: 1s
`, "")
	up(t, ctx, c, "a", "b")
	// A one-off container of service a must not be listed.
	if _, err := c.Run(ctx, "run", "-d", "--no-deps", "a"); err != nil {
		t.Fatal(err)
	}

	as, err := e.Containers(ctx, c.Project, "a")
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 2 {
		t.Fatalf("want 2 containers of a, got %d: %+v", len(as), as)
	}
	for _, x := range as {
		if x.Service != "a" || !x.Running || x.Status != "running" || x.Health != "" || x.Image != testImage ||
			x.StartedAt.IsZero() || x.ID == "" || !strings.HasPrefix(x.Name, c.Project+"-a-") {
			t.Errorf("unexpected container %+v", x)
		}
	}
	if err := e.WaitHealthy(ctx, c.Project, "b", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	b := one(t, ctx, e, c, "b")
	if b.Health != HealthHealthy {
		t.Errorf("b: health %q, want healthy", b.Health)
	}

	// Stopped containers are listed too.
	if err := e.cli.ContainerStop(ctx, as[0].ID, container.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	as, err = e.Containers(ctx, c.Project, "a")
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 2 || as[0].Running || as[0].Status != "exited" || !as[1].Running {
		t.Errorf("after stop: %+v", as)
	}

	none, err := e.Containers(ctx, c.Project+"-other", "a")
	if err != nil || len(none) != 0 {
		t.Errorf("other project: %v %+v", err, none)
	}
}

func TestUpRecreatesOnlyNamedServices(t *testing.T) {
	e := needDocker(t)
	t.Parallel()
	ctx := testCtx(t)
	c := newProject(t, `
services:
  a:
    image: {{IMAGE}}
    environment:
      SHARED: ${SHARED}
  b:
    image: {{IMAGE}}
    environment:
      SHARED: ${SHARED}
`, "SHARED=one\n")
	up(t, ctx, c, "a", "b")
	a0, b0 := one(t, ctx, e, c, "a"), one(t, ctx, e, c, "b")

	writeFile(t, filepath.Join(c.Dir, ".env"), "SHARED=two\n")
	up(t, ctx, c, "a")
	a1, b1 := one(t, ctx, e, c, "a"), one(t, ctx, e, c, "b")
	if a1.ID == a0.ID {
		t.Error("a was not recreated after its environment changed")
	}
	if b1.ID != b0.ID {
		t.Error("b was recreated although it was not named")
	}
	if env, err := e.Env(ctx, a1.ID); err != nil || env["SHARED"] != "two" {
		t.Errorf("a env: %v %q", err, env["SHARED"])
	}

	up(t, ctx, c, "a")
	if a2 := one(t, ctx, e, c, "a"); a2.ID != a1.ID {
		t.Error("a second up recreated a")
	}

	up(t, ctx, c, "a", "b")
	a3, b3 := one(t, ctx, e, c, "a"), one(t, ctx, e, c, "b")
	if a3.ID != a1.ID || b3.ID == b1.ID {
		t.Errorf("up a b: a recreated=%v (want false), b recreated=%v (want true)", a3.ID != a1.ID, b3.ID != b1.ID)
	}
	up(t, ctx, c, "a", "b")
	if a4, b4 := one(t, ctx, e, c, "a"), one(t, ctx, e, c, "b"); a4.ID != a3.ID || b4.ID != b3.ID {
		t.Error("a repeated up recreated something")
	}
}

// The Compose CLI gets only the environment in Compose.Env: a variable of the
// test process must not reach compose's interpolation.
func TestComposeEnvIsExplicit(t *testing.T) {
	e := needDocker(t)
	t.Setenv("REKEY_TEST_MARKER", "leak")
	ctx := testCtx(t)
	c := newProject(t, `
services:
  a:
    image: {{IMAGE}}
    environment:
      SEEN: ${REKEY_TEST_MARKER:-unset}
`, "")
	up(t, ctx, c, "a")
	env, err := e.Env(ctx, one(t, ctx, e, c, "a").ID)
	if err != nil {
		t.Fatal(err)
	}
	if env["SEEN"] != "unset" {
		t.Fatalf("SEEN=%q, want unset: the parent's environment reached compose", env["SEEN"])
	}
	out, err := c.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "SEEN: unset") || strings.Contains(string(out), "leak") {
		t.Errorf("config output:\n%s", out)
	}

	// Positive control: what Env says does reach compose.
	c.Env = append(childEnv(), "REKEY_TEST_MARKER=explicit")
	out, err = c.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "SEEN: explicit") {
		t.Errorf("config output with explicit env:\n%s", out)
	}
}

func TestComposeErrorsAreRedacted(t *testing.T) {
	needDocker(t)
	t.Parallel()
	ctx := testCtx(t)
	c := newProject(t, `
services:
  a:
    image: rekey-no-such-image-s3cr3t:never
`, "")
	c.Redact = func(s string) string { return strings.ReplaceAll(s, "s3cr3t", "[REDACTED]") }
	err := c.Up(ctx, "a")
	if err == nil {
		t.Fatal("want an error for a missing image with --pull never")
	}
	t.Logf("error: %v", err)
	if strings.Contains(err.Error(), "s3cr3t") || !strings.Contains(err.Error(), "[REDACTED]") {
		t.Errorf("error not redacted: %v", err)
	}
	if !strings.HasPrefix(err.Error(), "failed to recreate a: ") {
		t.Errorf("error prefix: %v", err)
	}

	// An invalid file: Config fails with the redacted tail of stderr.
	writeFile(t, c.Files[0], "services:\n  a:\n    image: x\n    s3cr3t-key: 1\n")
	_, err = c.Config(ctx)
	if err == nil {
		t.Fatal("want an error for an invalid compose file")
	}
	t.Logf("error: %v", err)
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("error not redacted: %v", err)
	}
	writeFile(t, c.Files[0], "services:\n  a:\n    image: x\n") // so that cleanup can run down
}

func TestComposeUpNeedsServices(t *testing.T) {
	if err := (Compose{}).Up(context.Background()); err == nil {
		t.Fatal("want an error without services")
	}
}

func TestRestart(t *testing.T) {
	e := needDocker(t)
	t.Parallel()
	ctx := testCtx(t)
	c := newProject(t, `
services:
  a:
    image: {{IMAGE}}
`, "")
	up(t, ctx, c, "a")
	before := one(t, ctx, e, c, "a")
	start := time.Now()
	if err := e.Restart(ctx, before.ID, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("restart: %s", time.Since(start).Round(time.Millisecond))
	after := one(t, ctx, e, c, "a")
	if after.ID != before.ID || !after.StartedAt.After(before.StartedAt) || !after.Running {
		t.Errorf("before %+v, after %+v", before, after)
	}
	// A restart through the API is not a crash: the restart count stays.
	if err := e.WaitHealthy(ctx, c.Project, "a", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := e.Restart(ctx, "rekey-no-such-container", time.Second); err == nil {
		t.Error("want an error for a missing container")
	}
}

// Engine errors go through the redactor; errors.Is/As still see the cause.
func TestEngineErrorsAreRedacted(t *testing.T) {
	needDocker(t)
	t.Parallel()
	ctx := testCtx(t)
	e, err := New(ctx, WithHost(testHost), WithRedactor(func(s string) string {
		return strings.ReplaceAll(s, "No such container", "[REDACTED]")
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	err = e.Restart(ctx, "rekey-missing-container", time.Second)
	t.Logf("error: %v", err)
	if err == nil || strings.Contains(err.Error(), "No such container") || !strings.Contains(err.Error(), "[REDACTED]") {
		t.Errorf("error not redacted: %v", err)
	}
	if !cerrdefs.IsNotFound(err) {
		t.Errorf("the cause is lost: %v", err)
	}
}

func TestWaitHealthy(t *testing.T) {
	e := needDocker(t)
	t.Parallel()
	ctx := testCtx(t)
	c := newProject(t, `
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
`, "")
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
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		err := e.WaitHealthy(ctx, c.Project, "slow", 1500*time.Millisecond)
		t.Logf("error: %v", err)
		if err == nil {
			t.Fatal("want an error")
		}
		wantAll(t, err, "service slow not healthy after 1.5s", "health starting", "0 failing probes")
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

func wantAll(t *testing.T, err error, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not contain %q", err, s)
		}
	}
}

func TestExec(t *testing.T) {
	e := needDocker(t)
	t.Parallel()
	ctx := testCtx(t)
	c := newProject(t, `
services:
  a:
    image: {{IMAGE}}
`, "")
	up(t, ctx, c, "a")
	id := one(t, ctx, e, c, "a").ID

	code, out, err := e.Exec(ctx, id, []string{"/app", "cat", "5"}, []byte("s3cret value\n"))
	if err != nil {
		t.Fatal(err)
	}
	if code != 5 {
		t.Errorf("exit code %d, want 5", code)
	}
	if want := "stdin-bytes=13\ns3cret value\nto-stderr\n"; string(out) != want {
		t.Errorf("output %q, want %q", out, want)
	}

	code, out, err = e.Exec(ctx, id, []string{"/app", "cat"}, nil)
	if err != nil || code != 0 || string(out) != "stdin-bytes=0\nto-stderr\n" {
		t.Errorf("without stdin: %d %v %q", code, err, out)
	}

	big := []byte(strings.Repeat("x", 1<<20))
	code, out, err = e.Exec(ctx, id, []string{"/app", "cat"}, big)
	if err != nil || code != 0 || !strings.HasPrefix(string(out), "stdin-bytes=1048576\n") || len(out) != 1<<20+len("stdin-bytes=1048576\nto-stderr\n") {
		t.Errorf("1 MiB stdin: %d %v len %d", code, err, len(out))
	}

	if _, _, err := e.Exec(ctx, "rekey-no-such-container", []string{"/app"}, nil); err == nil {
		t.Error("want an error for a missing container")
	}
}

func TestLogsMatch(t *testing.T) {
	e := needDocker(t)
	t.Parallel()
	ctx := testCtx(t)
	c := newProject(t, `
services:
  a:
    image: {{IMAGE}}
    environment:
      LOG_LINE: boot-marker password=hunter2
`, "")
	up(t, ctx, c, "a")
	id := one(t, ctx, e, c, "a").ID

	m, err := eventually(ctx, e, id, time.Time{}, []string{"nothing-like-this", "boot-marker"})
	if err != nil || m != "boot-marker" {
		t.Fatalf("since start: %q %v", m, err)
	}
	if m, err := e.LogsMatch(ctx, id, time.Time{}, []string{"nothing-like-this"}); err != nil || m != "" {
		t.Errorf("no match: %q %v", m, err)
	}
	if m, err := e.LogsMatch(ctx, id, time.Time{}, nil); err != nil || m != "" {
		t.Errorf("no patterns: %q %v", m, err)
	}

	since := time.Now()
	if code, out, err := e.Exec(ctx, id, []string{"/app", "log", "late-marker"}, nil); err != nil || code != 0 {
		t.Fatalf("exec log: %d %v %s", code, err, out)
	}
	m, err = eventually(ctx, e, id, since, []string{"boot-marker", "late-marker"})
	if err != nil || m != "late-marker" {
		t.Errorf("since %s: %q %v, want late-marker only", since, m, err)
	}
	if m, err := e.LogsMatch(ctx, id, since, []string{"boot-marker"}); err != nil || m != "" {
		t.Errorf("boot-marker is older than since: %q %v", m, err)
	}

	// After a restart, a zero since means the new run: the app prints its
	// boot line again (the engine may stamp it before State.StartedAt), but
	// the late line is from the previous run.
	if err := e.Restart(ctx, id, time.Second); err != nil {
		t.Fatal(err)
	}
	if m, err := eventually(ctx, e, id, time.Time{}, []string{"boot-marker"}); err != nil || m != "boot-marker" {
		t.Errorf("after restart: %q %v", m, err)
	}
	if m, err := e.LogsMatch(ctx, id, time.Time{}, []string{"late-marker"}); err != nil || m != "" {
		t.Errorf("after restart: %q %v", m, err)
	}
}

// eventually polls LogsMatch for up to 10s until something matches: the app
// prints asynchronously.
func eventually(ctx context.Context, e *Engine, id string, since time.Time, patterns []string) (string, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, err := e.LogsMatch(ctx, id, since, patterns)
		if err != nil || m != "" || time.Now().After(deadline) {
			return m, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestMatcherAcrossWrites(t *testing.T) {
	m := &matcher{pats: [][]byte{[]byte("needle"), []byte("xx")}, keep: 5}
	for _, p := range []string{"hay ne", "e", "dle hay"} {
		if _, err := m.Write([]byte(p)); err != nil {
			break
		}
	}
	if m.found != "needle" {
		t.Fatalf("found %q", m.found)
	}
	m = &matcher{pats: [][]byte{[]byte("bb"), []byte("a")}, keep: 1}
	_, _ = m.Write([]byte("xxabb"))
	if m.found != "a" {
		t.Fatalf("want the earliest match, found %q", m.found)
	}
}

func TestEnv(t *testing.T) {
	e := needDocker(t)
	t.Parallel()
	ctx := testCtx(t)
	c := newProject(t, `
services:
  a:
    image: {{IMAGE}}
    environment:
      DB_PASSWORD: from-env-file
      WITH_EQUALS: a=b=c
      EMPTY: ""
`, "")
	up(t, ctx, c, "a")
	env, err := e.Env(ctx, one(t, ctx, e, c, "a").ID)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"DB_PASSWORD": "from-env-file", "WITH_EQUALS": "a=b=c", "EMPTY": ""} {
		if got, ok := env[k]; !ok || got != want {
			t.Errorf("%s=%q (present %v), want %q", k, got, ok, want)
		}
	}
}

func TestMountedFile(t *testing.T) {
	e := needDocker(t)
	t.Parallel()
	ctx := testCtx(t)
	c := newProject(t, `
services:
  a:
    image: {{IMAGE}}
    secrets: [token]
    volumes:
      - ./app.conf:/etc/app/app.conf:ro
secrets:
  token:
    file: ./token.txt
`, "")
	writeFile(t, filepath.Join(c.Dir, "token.txt"), "token-one\n")
	writeFile(t, filepath.Join(c.Dir, "app.conf"), "key = value-one\n")
	up(t, ctx, c, "a")
	id := one(t, ctx, e, c, "a").ID

	for target, want := range map[string]string{"/run/secrets/token": "token-one\n", "/etc/app/app.conf": "key = value-one\n"} {
		got, err := e.MountedFile(ctx, id, target)
		if err != nil || string(got) != want {
			t.Errorf("%s: %q %v, want %q", target, got, err, want)
		}
	}

	// Written in place (same inode): visible at once.
	writeFile(t, filepath.Join(c.Dir, "token.txt"), "token-two\n")
	if got, err := e.MountedFile(ctx, id, "/run/secrets/token"); err != nil || string(got) != "token-two\n" {
		t.Errorf("after in-place write: %q %v", got, err)
	}

	for _, bad := range []string{"/etc/app/missing", "/etc/app", "relative/path"} {
		if _, err := e.MountedFile(ctx, id, bad); err == nil {
			t.Errorf("%s: want an error", bad)
		}
	}
}

// The default command is `docker compose` found through the PATH in Env (not
// the process's PATH); the docker CLI finds the plugin under HOME.
func TestComposeDefaultCommand(t *testing.T) {
	needDocker(t)
	t.Parallel()
	ctx := testCtx(t)
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("no docker CLI on PATH")
	}
	home := t.TempDir()
	if len(testComposer) == 1 { // a standalone build: install it as a plugin under HOME
		plugins := filepath.Join(home, ".docker", "cli-plugins")
		if err := os.MkdirAll(plugins, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(testComposer[0], filepath.Join(plugins, "docker-compose")); err != nil {
			t.Fatal(err)
		}
	}
	c := newProject(t, "services:\n  a:\n    image: {{IMAGE}}\n", "")
	c.Command = nil
	c.Env = []string{"PATH=" + filepath.Dir(docker), "HOME=" + home}
	if testHost != "" {
		c.Env = append(c.Env, "DOCKER_HOST="+testHost)
	}
	out, err := c.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), testImage) {
		t.Errorf("config output:\n%s", out)
	}
	c.Env = []string{"PATH=" + t.TempDir()}
	if _, err := c.Config(ctx); err == nil || !strings.Contains(err.Error(), "failed to find docker") {
		t.Errorf("want a lookup error with an empty PATH, got %v", err)
	}
}

func TestTailNeverSplitsALine(t *testing.T) {
	tb := &tailBuffer{max: 64}
	for i := range 100 {
		fmt.Fprintf(tb, "line %02d password=SECRETSECRET\n", i)
	}
	got := tb.String()
	for _, l := range strings.Split(strings.TrimSpace(got), "\n") {
		if !strings.HasPrefix(l, "line ") || !strings.HasSuffix(l, "=SECRETSECRET") {
			t.Fatalf("partial line %q in %q", l, got)
		}
	}
	if !strings.Contains(got, "line 99") {
		t.Errorf("lost the end: %q", got)
	}
	if tl := tail("a\n\nb\nc\nd\n", 2, 100); tl != "c\nd" {
		t.Errorf("tail = %q", tl)
	}
	if tl := tail("abcdef", 2, 3); tl != "…def" {
		t.Errorf("tail = %q", tl)
	}
}

// The CLI's environment is exactly Compose.Env (plus a default PATH): nothing
// of the test process, however it is set.
func TestComposeChildEnvIsExactlyEnv(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	t.Setenv("REKEY_TEST_MARKER", "leak")
	out := filepath.Join(t.TempDir(), "env")
	c := Compose{
		Command: []string{"/bin/sh", "-c", `env > "$0"`, out},
		Dir:     t.TempDir(),
		Env:     []string{"HOME=/nonexistent", "DOCKER_HOST=unix:///x.sock"},
	}
	if _, err := c.Run(context.Background(), "config"); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(string(got)), "\n") {
		k, _, _ := strings.Cut(l, "=")
		if k != "PWD" && k != "SHLVL" && k != "_" && k != "OLDPWD" { // set by the shell itself
			names = append(names, k)
		}
	}
	if want := "DOCKER_HOST HOME PATH"; strings.Join(slices.Sorted(slices.Values(names)), " ") != want {
		t.Errorf("child env names %v, want %s; env:\n%s", names, want, got)
	}
	if !strings.Contains(string(got), "PATH="+DefaultPath+"\n") {
		t.Errorf("no default PATH:\n%s", got)
	}
}
