package gitsync

import (
	"fmt"
	"io"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gitBin is the absolute path of the git CLI used to build fixtures; tests
// that need it are skipped when it is missing.
var gitBin string

func requireGit(t *testing.T) {
	t.Helper()
	if gitBin == "" {
		p, err := exec.LookPath("git")
		if err != nil {
			t.Skip("git CLI not available")
		}
		gitBin = p
	}
}

// fixture drives the git CLI with a fixed identity, no user or system
// configuration, and deterministic, strictly increasing commit dates.
type fixture struct {
	t    *testing.T
	home string
	tick int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	requireGit(t)
	return &fixture{t: t, home: t.TempDir()}
}

func (f *fixture) env() []string {
	date := fmt.Sprintf("%d +0000", 1700000000+f.tick*60)
	return []string{
		"PATH=" + filepath.Dir(gitBin) + string(os.PathListSeparator) + "/usr/bin:/bin",
		"HOME=" + f.home,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=" + os.DevNull,
		"GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=Alice Author",
		"GIT_AUTHOR_EMAIL=alice@example.test",
		"GIT_COMMITTER_NAME=Carol Committer",
		"GIT_COMMITTER_EMAIL=carol@example.test",
		"GIT_AUTHOR_DATE=" + date,
		"GIT_COMMITTER_DATE=" + date,
	}
}

// git runs git in dir and returns its trimmed stdout.
func (f *fixture) git(dir string, args ...string) string {
	f.t.Helper()
	f.tick++
	cmd := exec.Command(gitBin, args...)
	cmd.Dir = dir
	cmd.Env = f.env()
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		f.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

// initRepo creates a working tree with branch main.
func (f *fixture) initRepo() string {
	f.t.Helper()
	dir := f.t.TempDir()
	f.git(dir, "init", "-q", "-b", "main")
	return dir
}

// commit writes files (path → content; "" deletes) and commits them,
// returning the new commit hash.
func (f *fixture) commit(dir, msg string, files map[string]string) string {
	f.t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if content == "" {
			f.git(dir, "rm", "-q", p)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			f.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			f.t.Fatal(err)
		}
		f.git(dir, "add", p)
	}
	f.git(dir, "commit", "-q", "--allow-empty", "-m", msg)
	return f.git(dir, "rev-parse", "HEAD")
}

// bareClone makes a bare clone of src (the "server" side).
func (f *fixture) bareClone(src string) string {
	f.t.Helper()
	root := f.t.TempDir()
	dst := filepath.Join(root, "repo.git")
	f.git(root, "clone", "-q", "--bare", src, dst)
	return dst
}

// serveHTTP serves the bare repositories under root with git http-backend
// (smart HTTP) on 127.0.0.1 and returns the base URL.
func (f *fixture) serveHTTP(root string) string {
	f.t.Helper()
	h := &cgi.Handler{
		Path:   gitBin,
		Stderr: io.Discard,
		Args:   []string{"http-backend"},
		Env: append(f.env(),
			"GIT_PROJECT_ROOT="+root,
			"GIT_HTTP_EXPORT_ALL=1",
		),
	}
	srv := httptest.NewServer(h)
	f.t.Cleanup(srv.Close)
	return srv.URL
}
