package main

import (
	"bytes"
	"context"
	"crypto/subtle"
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/rekeyhq/rekey/sopsio"
)

// TestTokenAuthForHTTPSRemotes serves a desired-state repository with git http-backend behind basic auth
// on 127.0.0.1 and runs `rekey plan` against it without, with a wrong and with the right token file.
func TestTokenAuthForHTTPSRemotes(t *testing.T) {
	gitBin, err := exec.LookPath("git")
	if err != nil {
		t.Fatal("git is needed (scripts/setup.sh installs it)")
	}
	root, work := t.TempDir(), t.TempDir()
	id, _ := age.GenerateX25519Identity()
	stack := filepath.Join(work, "stack")
	files := map[string]string{
		"stack/compose.yaml": "services:\n  app:\n    image: demo\n    environment:\n      TOKEN: ${TOKEN}\n",
		"stack/.env":         "TOKEN=current-token-value\n",
		"repo/rekey.yaml":    "version: 1\ncompose: {project_dir: " + stack + "}\nvalues: secrets.sops.yaml\nsecrets:\n  token:\n    type: token\n    env: {value: TOKEN}\n",
		"keys.txt":           id.String() + "\n",
		"good":               "s3cret-token\n",
		"bad":                "wrong-token\n",
	}
	for name, body := range files {
		p := filepath.Join(work, name)
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	enc, err := sopsio.Encrypt([]byte("token: current-token-value\n"), sopsio.FormatYAML, []string{id.Recipient().String()})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(work, "repo", "secrets.sops.yaml"), enc, 0o600)
	git := func(dir string, args ...string) {
		cmd := exec.Command(gitBin, append([]string{"-c", "user.name=t", "-c", "user.email=t@example.invalid"}, args...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git(filepath.Join(work, "repo"), "init", "-q", "-b", "main")
	git(filepath.Join(work, "repo"), "add", "-A")
	git(filepath.Join(work, "repo"), "commit", "-qm", "desired")
	git(root, "clone", "-q", "--bare", filepath.Join(work, "repo"), filepath.Join(root, "desired.git"))

	backend := &cgi.Handler{Path: gitBin, Args: []string{"http-backend"}, Stderr: io.Discard,
		Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pass, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(pass), []byte("s3cret-token")) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	defer srv.Close()

	plan := func(extra ...string) (int, string) {
		var out bytes.Buffer
		args := append([]string{"plan", "--repo", srv.URL + "/desired.git", "--state-dir", filepath.Join(work, "state"),
			"--age-key-file", filepath.Join(work, "keys.txt")}, extra...)
		code := run(context.Background(), args, env{stdin: strings.NewReader(""), stdout: &out, stderr: &out,
			getenv: func(string) string { return "" }})
		return code, out.String()
	}
	if code, out := plan(); code != exitError || !strings.Contains(out, "authentication required") {
		t.Errorf("without a token: exit %d\n%s", code, out)
	}
	if code, out := plan("--git-token-file", filepath.Join(work, "bad")); code != exitError || strings.Contains(out, "wrong-token") {
		t.Errorf("with a wrong token: exit %d (the token must not be printed)\n%s", code, out)
	}
	code, out := plan("--git-token-file", filepath.Join(work, "good"))
	if code != exitOK || !strings.Contains(out, "secret token (token): in-sync") {
		t.Fatalf("with the token: exit %d\n%s", code, out)
	}
	if strings.Contains(out, "s3cret-token") {
		t.Error("the token was printed")
	}
}
