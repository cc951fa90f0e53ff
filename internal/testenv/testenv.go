// Package testenv gives end-to-end tests a real Docker Compose stack: it
// checks that dockerd, the Compose CLI plugin and the demo images are there,
// and copies a stack template (such as examples/demo/stack) into a temporary
// directory that is brought up under a unique project name and torn down when
// the test ends.
//
// A test that needs Docker skips without it, unless the environment variable
// CI is set: in CI a missing engine fails the test instead. Prepare a machine
// with scripts/setup.sh and scripts/build-images.sh (scripts/test.sh runs both).
//
// The stack's child processes (docker, docker compose) get a minimal
// environment — PATH, HOME and the DOCKER_* connection variables — so that a
// variable in the test process never overrides the stack's .env.
package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Images the demo stack runs, built by scripts/build-images.sh.
const (
	AppImage   = "rekey-demo/app:dev"
	RedisImage = "rekey-demo/redis:dev"
	// PostgresImage is the PostgreSQL 15 image scripts/build-images.sh builds.
	PostgresImage = "rekey-demo/postgres:dev"
	// CaddyImage is Debian's Caddy 2.6, the reverse proxy in front of the demo app.
	CaddyImage = "rekey-demo/caddy:dev"
)

// DemoImages are the images examples/demo/stack needs.
var DemoImages = []string{AppImage, RedisImage, PostgresImage, CaddyImage}

const (
	commandTimeout = 3 * time.Minute // any single docker/compose command
	upWaitTimeout  = 2 * time.Minute // compose up --wait
)

// Fingerprint is the demo app's fingerprint of a value: the first 16 hex
// characters of sha256(value). Tests compute expected values with it.
func Fingerprint(value string) string {
	sum := sha256.Sum256([]byte(value))
	return hex.EncodeToString(sum[:])[:16]
}

// inCI reports whether tests must not skip for lack of Docker.
func inCI() bool { return os.Getenv("CI") != "" }

// unavailable fails the test in CI and skips it elsewhere.
func unavailable(tb testing.TB, reason, hint string) {
	tb.Helper()
	if inCI() {
		tb.Fatalf("%s (CI is set, so this test must run; %s)", reason, hint)
	}
	tb.Skipf("%s; %s", reason, hint)
}

var (
	dockerOnce sync.Once
	dockerErr  error
)

// RequireDocker skips the test (fails it when CI is set) unless dockerd
// answers and the Compose CLI plugin works.
func RequireDocker(tb testing.TB) {
	tb.Helper()
	dockerOnce.Do(func() {
		if _, err := exec.LookPath("docker"); err != nil {
			dockerErr = errors.New("no docker CLI on PATH")
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := run(ctx, "", "docker", "info", "--format", "{{.ServerVersion}}"); err != nil {
			dockerErr = fmt.Errorf("docker is not reachable: %w", err)
			return
		}
		if _, err := run(ctx, "", "docker", "compose", "version"); err != nil {
			dockerErr = fmt.Errorf("the docker compose plugin does not work: %w", err)
		}
	})
	if dockerErr != nil {
		unavailable(tb, dockerErr.Error(), "run scripts/setup.sh as root to install and start Docker and Compose")
	}
}

// RequireImages calls RequireDocker, then skips the test (fails it when CI is
// set) unless every named image exists locally. Without names it checks
// DemoImages.
func RequireImages(tb testing.TB, names ...string) {
	tb.Helper()
	RequireDocker(tb)
	if len(names) == 0 {
		names = DemoImages
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var missing []string
	for _, name := range names {
		if _, err := run(ctx, "", "docker", "image", "inspect", "--format", "{{.Id}}", name); err != nil {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		unavailable(tb, "missing images: "+strings.Join(missing, ", "), "run scripts/build-images.sh to build them")
	}
}

// RepoRoot returns the repository root: the closest directory above the
// test's working directory that holds go.mod.
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatalf("failed to get the working directory: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("failed to find the repository root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// DemoStackDir returns the path of examples/demo/stack.
func DemoStackDir(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(RepoRoot(tb), "examples", "demo", "stack")
}

// Stack is a copy of a stack template, run as its own compose project.
type Stack struct {
	Dir     string // the copied stack directory (compose.yaml, .env, secrets/)
	Name    string // the compose project name, "rkt" + random hex
	AppPort int    // the free loopback port written to .env as APP_PORT
}

// NewStack copies the stack template srcDir into a temporary directory, with
// mode 0600 for .env files and everything under secrets/ (other files keep
// their mode), gives it a unique project name and a free loopback APP_PORT
// (written into the copied .env), and registers a cleanup that removes the
// project's containers, networks and volumes (after logging the services'
// output if the test failed). It does not start the stack: call Up.
func NewStack(tb testing.TB, srcDir string) *Stack {
	tb.Helper()
	ShareEngine(tb) // released after the stack's cleanup below: no swarm leave while it runs (enginelock.go)
	dir := filepath.Join(tb.TempDir(), "stack")
	if err := copyTemplate(srcDir, dir); err != nil {
		tb.Fatalf("failed to copy stack template: %v", err)
	}
	port, err := freePort()
	if err != nil {
		tb.Fatalf("failed to pick a port: %v", err)
	}
	if err := setEnvVar(filepath.Join(dir, ".env"), "APP_PORT", strconv.Itoa(port)); err != nil {
		tb.Fatalf("failed to set APP_PORT: %v", err)
	}
	s := &Stack{Dir: dir, Name: "rkt" + randomHex(5), AppPort: port}
	tb.Cleanup(func() { s.cleanup(tb) })
	return s
}

func (s *Stack) cleanup(tb testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	if tb.Failed() {
		out, err := run(ctx, s.Dir, "docker", s.composeArgs("logs", "--no-color", "--timestamps")...)
		if err != nil {
			tb.Logf("compose logs of %s: %v", s.Name, err)
		}
		tb.Logf("compose logs of %s:\n%s", s.Name, out)
	}
	if out, err := run(ctx, s.Dir, "docker", s.composeArgs("down", "-v", "--remove-orphans", "-t", "1")...); err != nil {
		tb.Errorf("failed to remove compose project %s: %v\n%s", s.Name, err, out)
	}
}

func (s *Stack) composeArgs(args ...string) []string {
	return append([]string{"compose", "-p", s.Name, "--project-directory", s.Dir}, args...)
}

// Compose runs `docker compose -p NAME --project-directory DIR args...` in the
// stack directory and returns its standard output. It fails the test, with
// both outputs, if the command fails or runs longer than three minutes.
func (s *Stack) Compose(tb testing.TB, args ...string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	out, err := run(ctx, s.Dir, "docker", s.composeArgs(args...)...)
	if err != nil {
		tb.Fatalf("docker compose %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// Up starts the stack and waits until every service is healthy
// (`docker compose up -d --wait`, at most two minutes).
func (s *Stack) Up(tb testing.TB) {
	tb.Helper()
	start := time.Now()
	s.Compose(tb, "up", "-d", "--wait", "--wait-timeout", strconv.Itoa(int(upWaitTimeout/time.Second)))
	tb.Logf("compose project %s up and healthy in %v", s.Name, time.Since(start).Round(time.Millisecond))
}

// ContainerID returns the ID of the service's one container (running or not).
func (s *Stack) ContainerID(tb testing.TB, service string) string {
	tb.Helper()
	ids := strings.Fields(s.Compose(tb, "ps", "--all", "--quiet", service))
	if len(ids) != 1 {
		tb.Fatalf("service %s has %d containers (%v), want 1", service, len(ids), ids)
	}
	return ids[0]
}

// Exec runs cmd in the service's container (`docker exec`) and returns its
// standard output; the error includes the standard error.
func (s *Stack) Exec(tb testing.TB, service string, cmd ...string) (string, error) {
	tb.Helper()
	id := s.ContainerID(tb, service)
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	return run(ctx, s.Dir, "docker", append([]string{"exec", id}, cmd...)...)
}

// ExecStdin is Exec with stdin as the command's standard input: the way to hand a value (a password in
// SQL) to a command in a container without putting it in any argv.
func (s *Stack) ExecStdin(tb testing.TB, service string, stdin []byte, cmd ...string) (string, error) {
	tb.Helper()
	id := s.ContainerID(tb, service)
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	return runStdin(ctx, s.Dir, stdin, "docker", append([]string{"exec", "-i", id}, cmd...)...)
}

// Logs returns the output of the given services (all without names).
func (s *Stack) Logs(tb testing.TB, services ...string) string {
	tb.Helper()
	return s.Compose(tb, append([]string{"logs", "--no-color", "--no-log-prefix"}, services...)...)
}

// Fingerprint returns the demo app's /fingerprint document for a service:
// for "app" fetched from the test process through the published APP_PORT,
// for any other service (the worker) through
// `docker exec SERVICE /demoapp probe http://127.0.0.1:8081/fingerprint`.
func (s *Stack) Fingerprint(tb testing.TB, service string) map[string]string {
	tb.Helper()
	var body string
	if service == "app" {
		client := &http.Client{Timeout: 5 * time.Second}
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/fingerprint", s.AppPort))
		if err != nil {
			tb.Fatalf("failed to get app fingerprint: %v", err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			tb.Fatalf("failed to get app fingerprint: %s %v %q", resp.Status, err, b)
		}
		body = string(b)
	} else {
		out, err := s.Exec(tb, service, "/demoapp", "probe", "http://127.0.0.1:8081/fingerprint")
		if err != nil {
			tb.Fatalf("failed to get %s fingerprint: %v", service, err)
		}
		body = out
	}
	var fps map[string]string
	if err := json.Unmarshal([]byte(body), &fps); err != nil {
		tb.Fatalf("failed to decode %s fingerprint %q: %v", service, body, err)
	}
	return fps
}

// SetEnv sets key=value in the stack's .env (before Up: ports, paths), keeping the other lines.
func (s *Stack) SetEnv(tb testing.TB, key, value string) {
	tb.Helper()
	if err := setEnvVar(filepath.Join(s.Dir, ".env"), key, value); err != nil {
		tb.Fatalf("failed to set %s in .env: %v", key, err)
	}
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	p, err := freePort()
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// DotEnv returns the KEY=VALUE pairs of the stack's .env (comments and blank
// lines skipped, one level of matching quotes removed). It is a plain reader
// for assertions, not a full dotenv parser.
func (s *Stack) DotEnv(tb testing.TB) map[string]string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(s.Dir, ".env"))
	if err != nil {
		tb.Fatalf("failed to read .env: %v", err)
	}
	return parseEnv(string(b))
}

// ReadFile returns the content of a file of the stack, by path relative to Dir.
func (s *Stack) ReadFile(tb testing.TB, rel string) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(s.Dir, rel))
	if err != nil {
		tb.Fatalf("failed to read %s: %v", rel, err)
	}
	return string(b)
}

func parseEnv(text string) map[string]string {
	env := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		env[strings.TrimSpace(k)] = v
	}
	return env
}

// isSecretFile reports whether a template file (by slash path relative to
// the template root) holds secrets and must be 0600.
func isSecretFile(rel string) bool {
	base := path0(rel)
	return base == ".env" || strings.HasPrefix(base, ".env.") || strings.HasSuffix(base, ".env") ||
		strings.HasPrefix(rel, "secrets/")
}

func path0(rel string) string {
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		return rel[i+1:]
	}
	return rel
}

// copyTemplate copies the directory tree src to dst (which must not exist).
func copyTemplate(src, dst string) error {
	if fi, err := os.Stat(src); err != nil {
		return err
	} else if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", src)
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		case info.Mode().IsRegular():
			mode := info.Mode().Perm()
			if isSecretFile(filepath.ToSlash(rel)) {
				mode = 0o600
			}
			return copyFile(p, target, mode)
		default:
			return fmt.Errorf("failed to copy %s: not a regular file or directory", rel)
		}
	})
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(dst, mode) // the umask may have narrowed it
}

// setEnvVar sets key=value in the dotenv file, replacing an existing
// assignment line or appending one; other lines are kept.
func setEnvVar(file, key, value string) error {
	b, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	lines := strings.Split(string(b), "\n")
	found := false
	for i, line := range lines {
		k, _, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(line), "export "), "=")
		if ok && strings.TrimSpace(k) == key {
			lines[i] = key + "=" + value
			found = true
		}
	}
	text := strings.Join(lines, "\n")
	if !found {
		if text != "" && !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		text += key + "=" + value + "\n"
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// childEnv is the environment of docker and compose child processes.
func childEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// run runs name args in dir with childEnv and returns the standard output;
// on failure the error carries the standard error.
func run(ctx context.Context, dir, name string, args ...string) (string, error) {
	return runStdin(ctx, dir, nil, name, args...)
}

// runStdin is run with stdin as the standard input (none when nil).
func runStdin(ctx context.Context, dir string, stdin []byte, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	cmd.Env = childEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", err, ctx.Err())
		}
		if msg != "" {
			err = fmt.Errorf("%w: %s", err, msg)
		}
	}
	return stdout.String(), err
}

// Docker runs the docker CLI with args in dir (the working directory when empty), within two minutes, and
// returns its standard output as it is; a failure ends the test with the standard error.
func Docker(tb testing.TB, dir string, args ...string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := run(ctx, dir, "docker", args...)
	if err != nil {
		tb.Fatalf("docker %s: %v", strings.Join(args, " "), err)
	}
	return out
}
