package dockerio

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

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

// The default command is the Compose plugin `docker compose` would run (under
// HOME, else the system's), run directly; without HOME it is `docker compose`,
// found through the PATH in Env (not the process's PATH).
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
