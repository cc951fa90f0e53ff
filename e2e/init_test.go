package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/internal/testenv"
)

// TestInitThenApply is the onboarding path of docs/getting-started.md on the real demo stack: `rekey init`
// proposes a desired state from what runs, the first `apply` finds everything in sync and recreates nothing,
// and a first `rekey rotate` goes through on it.
func TestInitThenApply(t *testing.T) {
	testenv.RequireImages(t)
	st := testenv.NewStack(t, testenv.DemoStackDir(t))
	st.Up(t)
	dir := t.TempDir()
	out, key, state := filepath.Join(dir, "repo"), filepath.Join(dir, "age-key.txt"), filepath.Join(dir, "state")
	oldSession := st.DotEnv(t)["SESSION_SECRET"]
	before := map[string]string{}
	for _, s := range []string{"redis", "app", "worker"} {
		before[s] = st.ContainerID(t, s)
	}
	run := func(args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command(rekeyBin, args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
		var so, se bytes.Buffer
		cmd.Stdout, cmd.Stderr = &so, &se
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(so.String()+se.String(), oldSession) {
			t.Errorf("rekey %s printed the session key", args[0])
		}
		return so.String(), se.String(), code
	}

	if so, se, code := run("init", "--project-dir", st.Dir, "--project-name", st.Name, "--out", out, "--generate-age-key", key); code != 0 {
		t.Fatalf("init exited %d\n%s\n%s", code, so, se)
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"commit", "-q", "-m", "rekey init"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = out
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + out, "GIT_AUTHOR_NAME=Ops", "GIT_AUTHOR_EMAIL=ops@example.invalid",
			"GIT_COMMITTER_NAME=Ops", "GIT_COMMITTER_EMAIL=ops@example.invalid"}
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, b)
		}
	}
	common := []string{"--repo", out, "--age-key-file", key, "--state-dir", state}
	so, se, code := run(append([]string{"apply"}, common...)...)
	if code != 0 || !strings.Contains(so, "session-secret") || !strings.Contains(so, "webhook-token") || strings.Contains(so, "rotated") {
		t.Fatalf("first apply on init's output exited %d, want everything in sync:\n%s\n%s", code, so, se)
	}
	for s, id := range before {
		if st.ContainerID(t, s) != id {
			t.Errorf("the first apply recreated %s", s)
		}
	}
	if so, se, code := run(append([]string{"drift"}, common...)...); code != 0 {
		t.Errorf("drift after the first apply exited %d:\n%s\n%s", code, so, se)
	}
	if so, se, code := run(append([]string{"rotate", "session-secret"}, common...)...); code != 0 {
		t.Fatalf("a first rotation exited %d:\n%s\n%s", code, so, se)
	}
	if app := st.Fingerprint(t, "app"); app["session_key"] == testenv.Fingerprint(oldSession) || app["session_key_previous"] != "" {
		t.Errorf("after rotate, the app reports %v: want a new key and no previous", app)
	}
}
