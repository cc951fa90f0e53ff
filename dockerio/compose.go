package dockerio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// DefaultPath is the PATH given to the Compose CLI (and used to find it) when
// [Compose.Env] has none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// How much of the Compose output an error carries.
const (
	tailLines = 20
	tailBytes = 4096
)

// Compose runs the Compose CLI for one project.
//
// The CLI runs with exactly Env as its environment (plus PATH=[DefaultPath]
// when Env sets no PATH): never the parent's environment. Put PATH, HOME and,
// if used, DOCKER_HOST and DOCKER_CONFIG there (see [ChildEnv]); never a
// secret. Compose interpolates from Env and from the .env file in the project
// directory, so a variable exported only in the user's shell does not
// override .env here.
type Compose struct {
	Command []string // the CLI; default: the Compose plugin `docker compose` would run, else ["docker", "compose"]
	Dir     string   // --project-directory; also the working directory
	Project string   // -p
	Files   []string // -f, in order
	Env     []string // the complete environment of the CLI, "KEY=value"
	Redact  func(string) string
}

// ChildEnv builds a minimal environment for the Compose CLI from a lookup
// function (for example os.Getenv, passed by the CLI): PATH, HOME,
// DOCKER_HOST and DOCKER_CONFIG, each only when set. dockerHost, when not
// empty, replaces DOCKER_HOST.
func ChildEnv(getenv func(string) string, dockerHost string) []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "DOCKER_HOST", "DOCKER_CONFIG"} {
		v := getenv(k)
		if k == "DOCKER_HOST" && dockerHost != "" {
			v = dockerHost
		}
		if v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// Up recreates the named services if their configuration changed (and starts
// them if stopped) with `up -d --no-deps --no-build --pull never`. It does not
// wait for health: the caller gates on [Engine.WaitHealthy].
func (c Compose) Up(ctx context.Context, services ...string) error {
	if len(services) == 0 {
		return errors.New("failed to run compose up: no services given")
	}
	args := append([]string{"up", "-d", "--no-deps", "--no-build", "--pull", "never"}, services...)
	if _, err := c.Run(ctx, args...); err != nil {
		return fmt.Errorf("failed to recreate %s: %w", strings.Join(services, ", "), err)
	}
	return nil
}

// Config returns the output of `compose config`: the resolved project. It
// holds the interpolated secret values: encrypt it before it touches disk.
func (c Compose) Config(ctx context.Context) ([]byte, error) {
	out, err := c.Run(ctx, "config")
	if err != nil {
		return nil, fmt.Errorf("failed to render the compose config: %w", err)
	}
	return out, nil
}

// Run runs `compose -p P --project-directory D -f F… args…` and returns its
// stdout. On failure the error carries the last lines of its stderr, passed
// through Redact. Never put a secret in args.
func (c Compose) Run(ctx context.Context, args ...string) ([]byte, error) {
	env := append([]string(nil), c.Env...)
	pathVar, ok := lookupEnv(env, "PATH")
	if !ok {
		pathVar = DefaultPath
		env = append(env, "PATH="+pathVar)
	}
	command := c.Command
	if len(command) == 0 {
		command = defaultCommand(env)
	}
	bin, err := lookPath(command[0], pathVar)
	if err != nil {
		return nil, err
	}
	// Each flag and its value in one argument: the Compose plugin started standalone rewrites its argv
	// first (v2 drops the first argument not starting with "-" when it is "compose"), so with `-p compose`
	// a project named compose lost its name and every call failed.
	full := append([]string(nil), command[1:]...)
	if c.Project != "" {
		full = append(full, "--project-name="+c.Project)
	}
	if c.Dir != "" {
		full = append(full, "--project-directory="+c.Dir)
	}
	for _, f := range c.Files {
		full = append(full, "--file="+f)
	}
	full = append(full, args...)

	cmd := exec.CommandContext(ctx, bin, full...)
	cmd.Env = env // never nil: nil would mean the parent's environment
	cmd.Dir = c.Dir
	var stdout bytes.Buffer
	stderrTail := &tailBuffer{max: 64 << 10}
	cmd.Stdout = &stdout
	cmd.Stderr = stderrTail
	// Let the CLI (and the plugin behind `docker compose`) stop cleanly.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	// Its own process group: a Ctrl-C at the terminal reaches rekey, which decides (a rollback must
	// be able to finish its compose calls), not the child directly.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 10 * time.Second

	name := strings.Join(append(append([]string(nil), command...), firstWord(args)), " ")
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		redact := c.Redact
		if redact == nil {
			redact = func(s string) string { return s }
		}
		// Redact before cutting, so that no cut can split a secret the
		// redactor would have recognised.
		if t := tail(redact(stderrTail.String()), tailLines, tailBytes); t != "" {
			return nil, composeUnreachable(fmt.Errorf("%s failed: %w; output:\n%s", name, err, t), t)
		}
		return nil, fmt.Errorf("%s failed: %w", name, err)
	}
	return stdout.Bytes(), nil
}

func firstWord(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

func lookupEnv(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// lookPath finds an executable in pathVar (not in the process environment).
func lookPath(file, pathVar string) (string, error) {
	if strings.Contains(file, "/") {
		return file, nil
	}
	for _, dir := range filepath.SplitList(pathVar) {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, file)
		if isExecutable(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("failed to find %s: %w in PATH %s", file, exec.ErrNotFound, pathVar)
}

// tail returns the last n non-empty lines of s, at most maxBytes of them.
func tail(s string, n, maxBytes int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	var kept []string
	for i := len(lines) - 1; i >= 0 && len(kept) < n; i-- {
		if strings.TrimSpace(lines[i]) != "" {
			kept = append(kept, lines[i])
		}
	}
	for i, j := 0, len(kept)-1; i < j; i, j = i+1, j-1 {
		kept[i], kept[j] = kept[j], kept[i]
	}
	out := strings.Join(kept, "\n")
	if len(out) > maxBytes {
		out = "…" + out[len(out)-maxBytes:]
	}
	return out
}

// tailBuffer keeps the last complete lines written to it, about max bytes.
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*t.max {
		t.trim()
	}
	return len(p), nil
}

func (t *tailBuffer) trim() {
	if len(t.buf) <= t.max {
		return
	}
	b := t.buf[len(t.buf)-t.max:]
	// Drop the partial first line: a secret cut in half would escape the
	// redactor.
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	} else {
		b = nil
	}
	t.buf = append(t.buf[:0], b...)
}

func (t *tailBuffer) String() string {
	t.trim()
	return string(t.buf)
}
