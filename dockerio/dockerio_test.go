package dockerio

import (
	"context"
	"fmt"
	"path/filepath"
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
