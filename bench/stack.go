package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/rekeyhq/rekey/internal/testenv"
)

// stack is one copy of the demo stack under a unique project name.
type stack struct {
	dir, name string
	port      int
	release   func() // the engine lock held shared from up to down (testenv.HoldEngineShared)
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the rekey repository")
		}
		dir = parent
	}
}

// buildRekey builds cmd/rekey from the working tree, or, when rev is set, from that commit: extracted with
// git archive into a temporary directory, so that the working tree is not touched.
func buildRekey(root, rev string) (string, error) {
	if rev == "" {
		return goBuild(root, "./cmd/rekey", "rekey")
	}
	src, err := os.MkdirTemp("", "rekey-bench-src-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(src)
	tar := filepath.Join(src, "src.tar")
	if _, err := run(root, "git", "archive", "--format=tar", "-o", tar, rev); err != nil {
		return "", err
	}
	if _, err := run(src, "tar", "-xf", tar); err != nil {
		return "", err
	}
	return goBuild(src, "./cmd/rekey", "rekey")
}

// goBuild builds a main package of the module into a new temporary directory.
func goBuild(root, pkg, name string) (string, error) {
	dir, err := os.MkdirTemp("", "rekey-bench-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Dir, cmd.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin, nil
}

func run(dir string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func newStack(root string) (*stack, error) {
	dir, err := os.MkdirTemp("", "rekey-bench-stack-")
	if err != nil {
		return nil, err
	}
	s := &stack{dir: filepath.Join(dir, "stack"), name: "rkb" + randHex(5), port: freePort()}
	if _, err := run(root, "cp", "-a", "examples/demo/stack", s.dir); err != nil {
		return nil, err
	}
	env := filepath.Join(s.dir, ".env")
	data, err := os.ReadFile(env)
	if err != nil {
		return nil, err
	}
	data = regexp.MustCompile(`(?m)^APP_PORT=.*$`).ReplaceAll(data, []byte(fmt.Sprintf("APP_PORT=%d", s.port)))
	if err := os.WriteFile(env, data, 0o600); err != nil {
		return nil, err
	}
	return s, s.up()
}

// up starts the stack holding the engine lock shared until down: a Swarm test of the suite running on the
// same engine meanwhile would otherwise `swarm leave` and drop the stack's DNS records (moby/moby#45144,
// docs/testing.md), and the stack's next container could not resolve db or redis.
func (s *stack) up() error {
	release, err := testenv.HoldEngineShared()
	if err != nil {
		return err
	}
	s.release = release
	_, err = s.compose("up", "-d", "--wait")
	return err
}

// applied gives the stack a desired-state repository (the demo's, with the demo key) next to it, applies it
// once, and returns rekey's flags for it: --repo, --state-dir, --age-key-file.
func (s *stack) applied(root, bin string) ([]string, error) {
	base := filepath.Dir(s.dir)
	repo, state := filepath.Join(base, "repo"), filepath.Join(base, "state")
	key := filepath.Join(root, "examples", "demo", "demo-age-key.txt")
	if _, err := run(root, "cp", "-a", "examples/demo/repo", repo); err != nil {
		return nil, err
	}
	cfg := filepath.Join(repo, "rekey.yaml")
	data, err := os.ReadFile(cfg)
	if err != nil {
		return nil, err
	}
	data = []byte(strings.NewReplacer("__PROJECT_DIR__", s.dir, "__PROJECT_NAME__", s.name,
		"__APP_PORT__", fmt.Sprint(s.port)).Replace(string(data)))
	if err := os.WriteFile(cfg, data, 0o644); err != nil {
		return nil, err
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"commit", "-qm", "desired"}} {
		if _, err := run(repo, "git", append([]string{"-c", "user.name=bench", "-c", "user.email=bench@example.invalid"}, args...)...); err != nil {
			return nil, err
		}
	}
	flags := []string{"--repo", repo, "--state-dir", state, "--age-key-file", key}
	if _, err := run(root, bin, append([]string{"apply", "--quiet"}, flags...)...); err != nil {
		return nil, err
	}
	return flags, nil
}

func (s *stack) compose(args ...string) (string, error) {
	return run(s.dir, "docker", append([]string{"compose", "-p", s.name, "--project-directory", s.dir}, args...)...)
}

func (s *stack) down() {
	s.compose("down", "-v", "-t", "1")
	os.RemoveAll(filepath.Dir(s.dir))
	if s.release != nil {
		s.release()
		s.release = nil
	}
}

// fingerprints reads what app and worker loaded; errors while containers are being replaced are retried by
// the caller.
func (s *stack) fingerprints() (app, worker map[string]string, err error) {
	read := func(svc, url string) (map[string]string, error) {
		out, err := s.compose("exec", "-T", svc, "/demoapp", "probe", url)
		if err != nil {
			return nil, err
		}
		var m map[string]string
		return m, json.Unmarshal([]byte(out), &m)
	}
	if app, err = read("app", "http://127.0.0.1:8080/fingerprint"); err != nil {
		return nil, nil, err
	}
	worker, err = read("worker", "http://127.0.0.1:8081/fingerprint")
	return app, worker, err
}

// waitFor polls until both consumers run value and the app accepts nothing else.
func (s *stack) waitFor(value string, within time.Duration) error {
	want := fp(value)
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		app, worker, err := s.fingerprints()
		if err == nil && app["session_key"] == want && app["session_key_previous"] == "" && worker["session_key"] == want {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("consumers did not reach the new value within %s", within)
}

func fp(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:])[:16]
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 18080
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// stuckReport is what an operator would look at when a benchmark's stack is stuck: every container's
// state (`compose ps -a`) and the last lines of each service's log (the demo logs fingerprints, never
// values), kept in the output because the benchmark removes the stack afterwards.
func (s *stack) stuckReport() string {
	ps, err := s.compose("ps", "-a", "--format", "table {{.Name}}\t{{.State}}\t{{.Status}}")
	if err != nil {
		ps += "\n(compose ps: " + err.Error() + ")"
	}
	logs, err := s.compose("logs", "--no-color", "--tail", "15")
	if err != nil {
		logs += "\n(compose logs: " + err.Error() + ")"
	}
	return ps + "\n" + logs
}
