package dockerio

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"

	"github.com/rekeyhq/rekey/internal/testenv"
)

// Shared fixtures, set up by TestMain.
var (
	testEngine   *Engine  // nil when Docker is unreachable
	testSkipWhy  string   // why Docker tests skip
	testImage    string   // tag of the scratch test image
	testComposer []string // the Compose CLI, nil when not found
	testHost     string   // DOCKER_HOST of the test process, if any
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	testHost = os.Getenv("DOCKER_HOST")
	e, err := New(ctx, WithHost(testHost))
	if err != nil {
		testSkipWhy = err.Error()
		if os.Getenv("CI") != "" {
			fmt.Fprintf(os.Stderr, "dockerio tests need Docker in CI: %v\n", err)
			return 1
		}
		return m.Run()
	}
	defer e.Close()
	// These tests run containers and Compose projects on the engine for as long as the package runs: hold
	// the engine lock shared, as testenv's stacks do, so that no test of another package stops dockerd or
	// leaves a swarm meanwhile (internal/testenv/enginelock.go).
	release, err := testenv.HoldEngineShared()
	if err != nil {
		fmt.Fprintf(os.Stderr, "dockerio tests: %v\n", err)
		return 1
	}
	defer release()
	testComposer = findCompose()
	if testComposer == nil && os.Getenv("CI") != "" {
		fmt.Fprintln(os.Stderr, "dockerio tests need the Compose CLI in CI (docker compose plugin, or REKEY_TEST_COMPOSE)")
		return 1
	}
	start := time.Now()
	tag, err := buildTestImage(ctx, e)
	if err != nil {
		fmt.Fprintf(os.Stderr, "failed to build the test image: %v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "dockerio: built %s in %s (API %s, compose %q)\n",
		tag, time.Since(start).Round(time.Millisecond), e.APIVersion(), testComposer)
	testEngine, testImage = e, tag
	code := m.Run()
	rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer rcancel()
	_, _ = e.cli.ImageRemove(rctx, tag, image.RemoveOptions{Force: true, PruneChildren: true})
	return code
}

// findCompose returns the Compose CLI command: $REKEY_TEST_COMPOSE
// (space-separated), else `docker compose` when the plugin is installed, else
// a standalone build at /tmp/composebuild/docker-compose.
func findCompose() []string {
	if v := os.Getenv("REKEY_TEST_COMPOSE"); v != "" {
		return strings.Fields(v)
	}
	if docker, err := exec.LookPath("docker"); err == nil {
		if exec.Command(docker, "compose", "version").Run() == nil {
			return []string{docker, "compose"}
		}
	}
	for _, p := range []string{"/usr/local/bin/docker-compose-v2", "/tmp/composebuild/docker-compose"} {
		if exec.Command(p, "version").Run() == nil {
			return []string{p}
		}
	}
	return nil
}

// buildTestImage compiles testdata/testapp statically and builds a FROM
// scratch image around it with the legacy builder, through the Engine API.
func buildTestImage(ctx context.Context, e *Engine) (string, error) {
	dir, err := os.MkdirTemp("", "dockerio-testapp-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	src, err := os.ReadFile(filepath.Join("testdata", "testapp", "main.go"))
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), src, 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module testapp\n\ngo 1.22\n"), 0o644); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", "app", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOTOOLCHAIN=local", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	bin, err := os.ReadFile(filepath.Join(dir, "app"))
	if err != nil {
		return "", err
	}
	var ctxTar bytes.Buffer
	tw := tar.NewWriter(&ctxTar)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{
		{"Dockerfile", 0o644, []byte("FROM scratch\nCOPY app /app\nENTRYPOINT [\"/app\"]\n")},
		{"app", 0o755, bin},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), Typeflag: tar.TypeReg}); err != nil {
			return "", err
		}
		if _, err := tw.Write(f.data); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	tag := "rekey-dockerio-test:" + randHex(6)
	resp, err := e.cli.ImageBuild(ctx, &ctxTar, build.ImageBuildOptions{
		Tags: []string{tag}, Version: build.BuilderV1, Remove: true, ForceRemove: true,
	})
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			break
		} else if err != nil {
			return "", err
		}
		if msg.Error != "" {
			return "", fmt.Errorf("docker build: %s", msg.Error)
		}
	}
	return tag, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// needDocker returns the shared engine, or skips (fails under CI) when Docker
// or the Compose CLI is missing.
func needDocker(t *testing.T) *Engine {
	t.Helper()
	switch {
	case testEngine == nil && os.Getenv("CI") != "":
		t.Fatalf("docker unreachable in CI: %s", testSkipWhy)
	case testEngine == nil:
		t.Skipf("docker unreachable: %s", testSkipWhy)
	case testComposer == nil:
		t.Skip("compose CLI not found (set REKEY_TEST_COMPOSE)")
	}
	return testEngine
}

// childEnv is the explicit environment the tests give the Compose CLI.
func childEnv() []string {
	return ChildEnv(os.Getenv, testHost)
}

var nonName = regexp.MustCompile(`[^a-z0-9]+`)

// newProject writes compose.yaml (with {{IMAGE}} replaced by the test image)
// and .env into a temporary directory and returns a Compose for a unique
// project, torn down with `down -v -t 1` when the test ends.
func newProject(t *testing.T, composeYAML, dotenv string) Compose {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "compose.yaml"), strings.ReplaceAll(composeYAML, "{{IMAGE}}", testImage))
	if dotenv != "" {
		writeFile(t, filepath.Join(dir, ".env"), dotenv)
	}
	name := nonName.ReplaceAllString(strings.ToLower(t.Name()), "-")
	if len(name) > 30 {
		name = name[:30]
	}
	c := Compose{
		Command: testComposer,
		Dir:     dir,
		Project: "rkt-" + strings.Trim(name, "-") + "-" + randHex(3),
		Files:   []string{filepath.Join(dir, "compose.yaml")},
		Env:     childEnv(),
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := c.Run(ctx, "down", "-v", "-t", "1", "--remove-orphans"); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})
	return c
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func up(t *testing.T, ctx context.Context, c Compose, services ...string) {
	t.Helper()
	start := time.Now()
	if err := c.Up(ctx, services...); err != nil {
		t.Fatal(err)
	}
	t.Logf("compose up %v: %s", services, time.Since(start).Round(time.Millisecond))
}

// one returns the single container of a service.
func one(t *testing.T, ctx context.Context, e *Engine, c Compose, service string) Container {
	t.Helper()
	cs, err := e.Containers(ctx, c.Project, service)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 {
		t.Fatalf("service %s: want 1 container, got %d: %+v", service, len(cs), cs)
	}
	return cs[0]
}
