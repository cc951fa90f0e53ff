package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/internal/testenv"
)

// pkgRun runs a command with a timeout and returns its combined output; it fails the test on error.
func pkgRun(t *testing.T, timeout time.Duration, dir string, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = env
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestPackage builds the release binary and image with scripts/package.sh, the supported way, and checks
// what they say about themselves; then runs the agent from that image with packaging/compose.agent.yaml
// next to a demo stack, and lets it rotate a value.
func TestPackage(t *testing.T) {
	testenv.RequireDocker(t)
	root := testenv.RepoRoot(t)
	head := strings.TrimSpace(pkgRun(t, time.Minute, root, nil, "git", "rev-parse", "HEAD"))
	date := strings.TrimSpace(pkgRun(t, time.Minute, root, append(os.Environ(), "TZ=UTC"),
		"git", "show", "-s", "--date=format-local:%Y-%m-%dT%H:%M:%SZ", "--format=%cd", "HEAD"))
	tag := "rekey-e2e/package:" + fmt.Sprintf("t%d", time.Now().UnixNano())
	out := t.TempDir()
	t.Cleanup(func() { exec.Command("docker", "image", "rm", "-f", tag).Run() })

	start := time.Now()
	// A cold -trimpath build compiles every dependency once (minutes); after that it is a relink.
	pkgRun(t, 30*time.Minute, root, nil, "scripts/package.sh", "--out", out, tag)
	t.Logf("scripts/package.sh built %s in %v", tag, time.Since(start).Round(time.Millisecond))

	// The binary: static, stamped with HEAD and its commit date.
	bin := filepath.Join(out, "rekey")
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s is dynamically linked", bin)
		}
	}
	f.Close()
	wantVersion := fmt.Sprintf("(commit %s, built %s, go", head, date)
	if v := pkgRun(t, time.Minute, "", nil, bin, "version"); !strings.HasPrefix(v, "rekey ") || !strings.Contains(v, wantVersion) {
		t.Errorf("%s version: %q, want %q", bin, v, wantVersion)
	}

	// The image: `docker run TAG` runs `rekey version` (ENTRYPOINT rekey, CMD version).
	for _, args := range [][]string{{"run", "--rm", tag}, {"run", "--rm", tag, "version"}} {
		v := pkgRun(t, time.Minute, "", nil, "docker", args...)
		if !strings.HasPrefix(v, "rekey ") || !strings.Contains(v, head) || !strings.Contains(v, wantVersion) {
			t.Errorf("docker %s: %q, want rekey … %s", strings.Join(args, " "), v, wantVersion)
		}
	}

	var cfg struct {
		Config struct {
			Labels     map[string]string
			Env        []string
			Entrypoint []string
			Cmd        []string
		}
	}
	if err := json.Unmarshal([]byte(pkgRun(t, time.Minute, "", nil, "docker", "image", "inspect", "--format", "{{json .}}", tag)), &cfg); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"org.opencontainers.image.revision": head,
		"org.opencontainers.image.created":  date,
		"org.opencontainers.image.source":   "https://github.com/rekeyhq/rekey",
		"org.opencontainers.image.title":    "rekey",
		"org.opencontainers.image.licenses": "BSD-3-Clause",
	} {
		if got := cfg.Config.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"org.opencontainers.image.version", "rekey.docker-cli", "rekey.compose"} {
		if cfg.Config.Labels[k] == "" {
			t.Errorf("label %s is empty (labels %v)", k, cfg.Config.Labels)
		}
	}
	if strings.Join(cfg.Config.Entrypoint, " ") != "/usr/local/bin/rekey" || strings.Join(cfg.Config.Cmd, " ") != "version" ||
		!strings.Contains(strings.Join(cfg.Config.Env, " "), "HOME=/tmp") {
		t.Errorf("image config: entrypoint %v, cmd %v, env %v", cfg.Config.Entrypoint, cfg.Config.Cmd, cfg.Config.Env)
	}

	// Its files: exactly the binaries, the CA bundle and /tmp.
	id := strings.TrimSpace(pkgRun(t, time.Minute, "", nil, "docker", "create", tag))
	defer exec.Command("docker", "rm", "-f", id).Run()
	files := imageFiles(t, id)
	for path, mode := range map[string]os.FileMode{
		"usr/local/bin/rekey":                             0o755,
		"usr/local/bin/docker":                            0o755,
		"usr/local/lib/docker/cli-plugins/docker-compose": 0o755,
		"etc/ssl/certs/ca-certificates.crt":               0o644,
		"tmp/":                                            os.ModeSticky | 0o777,
	} {
		got, ok := files[path]
		if !ok {
			t.Errorf("image lacks /%s (has %v)", path, files)
		} else if got.Perm()|got&os.ModeSticky != mode {
			t.Errorf("/%s has mode %v, want %v", path, got, mode)
		}
	}
	engine := map[string]bool{".dockerenv": true, "etc/hostname": true, "etc/hosts": true, "etc/resolv.conf": true, "etc/mtab": true}
	for path := range files {
		switch {
		case strings.HasPrefix(path, "usr/local/bin/"), strings.HasPrefix(path, "usr/local/lib/docker/"), path == "etc/ssl/certs/ca-certificates.crt", path == "tmp/":
		case engine[path], strings.HasPrefix(path, "dev/"), strings.HasPrefix(path, "proc/"), strings.HasPrefix(path, "sys/"): // the engine's
		default:
			t.Errorf("unexpected file /%s in the image", path)
		}
	}

	// The docker CLI and the Compose plugin inside reach the engine through the socket.
	v := pkgRun(t, time.Minute, "", nil, "docker", "run", "--rm", "-v", "/var/run/docker.sock:/var/run/docker.sock",
		"--entrypoint", "docker", tag, "compose", "version", "--short")
	if strings.TrimSpace(v) != cfg.Config.Labels["rekey.compose"] {
		t.Errorf("docker compose version in the image: %q, label %q", v, cfg.Config.Labels["rekey.compose"])
	}
	pkgRun(t, time.Minute, "", nil, "docker", "run", "--rm", "-v", "/var/run/docker.sock:/var/run/docker.sock",
		"--entrypoint", "docker", tag, "version", "--format", "{{.Server.Version}}")

	t.Run("ComposeAgent", func(t *testing.T) { testComposeAgent(t, root, tag) })
}

// imageFiles lists the files of a container's filesystem (docker export) with their modes.
func imageFiles(t *testing.T, id string) map[string]os.FileMode {
	t.Helper()
	cmd := exec.Command("docker", "export", id)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	files := map[string]os.FileMode{}
	tr := tar.NewReader(stdout)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("docker export: %v", err)
		}
		files[strings.TrimPrefix(h.Name, "/")] = h.FileInfo().Mode()
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("docker export: %v\n%s", err, stderr.String())
	}
	// Directories only as far as they hold nothing else: keep tmp/ (empty) and drop the parents of files.
	for path := range files {
		if strings.HasSuffix(path, "/") && path != "tmp/" {
			delete(files, path)
		}
	}
	return files
}

// testComposeAgent runs packaging/compose.agent.yaml as documented in packaging/README.md: a first apply
// with `docker compose run`, then the agent with `up -d`; `rekey reconcile` on the host reaches it through
// the state dir, and it rotates a committed value on the demo stack from inside its hardened container.
func testComposeAgent(t *testing.T, root, image string) {
	r := newRig(t, "0s")
	if err := os.MkdirAll(r.stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	hookSecret := filepath.Join(t.TempDir(), "webhook.secret")
	writeFile(t, hookSecret, "0123456789abcdef0123456789abcdef\n")
	// The packaged agent verifies commits: the signer's key in the trust file, every applied commit signed.
	keys := t.TempDir()
	signer := sshKey(t, keys, "ops")
	pub, err := os.ReadFile(signer + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	trusted := filepath.Join(keys, "trusted-signers")
	writeFile(t, trusted, string(pub))
	sign := func() {
		t.Helper()
		r.git("-c", "gpg.format=ssh", "-c", "user.signingkey="+signer+".pub", "commit", "-q", "--amend", "--no-edit", "-S")
	}
	sign()
	metricsAddr, hookAddr := freeAddr(t), freeAddr(t)
	project := "rekeyagent" + strings.ToLower(r.stack.Name)
	env := append(os.Environ(),
		"REKEY_IMAGE="+image,
		"REKEY_PROJECT_DIR="+r.stack.Dir,
		"REKEY_REPO="+r.repo,
		"REKEY_STATE_DIR="+r.stateDir,
		"REKEY_AGE_KEY_FILE="+r.keyFile,
		"REKEY_WEBHOOK_SECRET_FILE="+hookSecret,
		"REKEY_WEBHOOK_ADDR="+hookAddr,
		"REKEY_METRICS_ADDR="+metricsAddr,
		"REKEY_TRUSTED_SIGNERS_FILE="+trusted,
	)
	compose := func(timeout time.Duration, args ...string) string {
		t.Helper()
		full := append([]string{"compose", "-p", project, "-f", filepath.Join(root, "packaging", "compose.agent.yaml")}, args...)
		return pkgRun(t, timeout, root, env, "docker", full...)
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := exec.Command("docker", "compose", "-p", project, "logs", "--no-color").CombinedOutput()
			t.Logf("agent logs:\n%s", out)
		}
		exec.Command("docker", "compose", "-p", project, "-f", filepath.Join(root, "packaging", "compose.agent.yaml"),
			"down", "-t", "30").Run()
	})

	// A new install: one apply by hand creates the journal (the agent refuses a state dir without one).
	res := compose(3*time.Minute, "run", "--rm", "rekey", "apply",
		"--repo="+r.repo, "--state-dir="+r.stateDir, "--age-key-file=/run/secrets/age-key",
		"--trust-ssh=/etc/rekey/trusted-signers")
	r.checkNoLeak(result{stdout: res})
	if !strings.Contains(res, "in-sync") {
		t.Fatalf("first apply:\n%s", res)
	}

	compose(3*time.Minute, "up", "-d")
	waitListening(t, hookAddr)
	waitListening(t, metricsAddr)
	if resp, err := http.Get("http://" + metricsAddr + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// An unsigned commit is not applied by the packaged agent.
	r.values["session-key"] = "unsigned-never-applied-0123456789abcdef"
	r.commitValues("unsigned rotation")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	unsigned, _ := exec.CommandContext(ctx, rekeyBin, "reconcile", "--state-dir", r.stateDir).CombinedOutput()
	r.checkNoLeak(result{stdout: string(unsigned)})
	if app, _ := r.fingerprints(); app["session_key"] == testenv.Fingerprint(r.values["session-key"]) {
		t.Fatalf("the packaged agent applied an unsigned commit:\n%s", unsigned)
	}

	r.values["session-key"] = "rotated-by-the-packaged-agent-0123456789"
	r.commitValues("rotate from the packaged agent")
	sign()
	// `rekey reconcile` on the host: the control socket is in the state dir, mounted at its host path.
	rec, err := exec.CommandContext(ctx, rekeyBin, "reconcile", "--state-dir", r.stateDir).CombinedOutput()
	r.checkNoLeak(result{stdout: string(rec)})
	if err != nil {
		t.Fatalf("rekey reconcile: %v\n%s", err, rec)
	}
	app, worker := r.fingerprints()
	if want := testenv.Fingerprint(r.values["session-key"]); app["session_key"] != want || worker["session_key"] != want {
		t.Fatalf("after the agent's run: app=%v worker=%v\nreconcile:\n%s", app, worker, rec)
	}

	// SIGTERM through tini: the agent stops cleanly (exit 0).
	compose(2*time.Minute, "stop")
	code := strings.TrimSpace(pkgRun(t, time.Minute, "", nil, "docker", "inspect", "--format", "{{.State.ExitCode}}",
		strings.TrimSpace(compose(time.Minute, "ps", "--all", "--quiet", "rekey"))))
	if code != "0" {
		t.Errorf("the agent exited %s after SIGTERM", code)
	}
	logs := compose(time.Minute, "logs", "--no-color")
	r.checkNoLeak(result{stdout: logs})
	if !strings.Contains(logs, "agent started") {
		t.Errorf("agent logs:\n%s", logs)
	}
}
