package e2e

import (
	"bytes"
	"context"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chromium finds headless Chromium (scripts/setup.sh installs it); it must be there in CI.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no chromium on PATH (CI is set, so this test must run): apt-get install -y chromium")
	}
	t.Skip("no chromium on PATH: apt-get install -y chromium (scripts/setup.sh)")
	return ""
}

func headless(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	profile := t.TempDir()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
		"--disable-extensions", "--disable-background-networking", "--disable-dev-shm-usage", "--user-data-dir=" + profile}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+profile, "XDG_CONFIG_HOME="+profile, "XDG_CACHE_HOME="+profile)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, errb.String())
	}
	return out.Bytes()
}

// TestStatusPageInChromium: the agent's status page for the live demo stack — with the Redis and
// PostgreSQL passwords managed and a rotation done — rendered by headless Chromium: every secret, its
// state, the applied commit, and a screenshot; no value anywhere in the page.
func TestStatusPageInChromium(t *testing.T) {
	bin := chromium(t)
	r := newRig(t, "0s")
	env := r.stack.DotEnv(t)
	r.values["redis-password"] = env["REDIS_PASSWORD"]
	r.values["db-password"] = env["DB_PASSWORD"]
	r.config += `  redis-password: {type: token, env: {value: REDIS_PASSWORD}, server: cache}
  db-password: {type: token, env: {value: DB_PASSWORD}, login_env: DB_USER, server: db}
servers:
  cache: {type: redis, service: redis}
  db: {type: postgres, service: db, user: shop}
`
	writeFile(t, filepath.Join(r.repo, "rekey.yaml"), r.config)
	r.commitValues("manage the database and Redis passwords")
	r.mustApply()
	r.values["db-password"] = "status-page-db-password-9e"
	r.commitValues("rotate the database password")
	head := r.git("rev-parse", "HEAD")

	statusAddr := freeAddr(t)
	r.startAgent(r.repo, "--drift-interval", "10m", "--status-addr", statusAddr)
	waitFor(t, 2*time.Minute, "the agent to apply the rotation", func() bool {
		code, page := get(t, "http://"+statusAddr+"/")
		return code == http.StatusOK && strings.Contains(page, head[:12]) && strings.Contains(page, "rotated")
	})

	dom := string(headless(t, bin, "--dump-dom", "http://"+statusAddr+"/"))
	for _, want := range []string{"<h3>db-password</h3>", "<h3>redis-password</h3>", "<h3>session-key</h3>",
		"<h3>webhook-token</h3>", `<span class="badge ok">in-sync</span>`,
		"db: PostgreSQL login roles shop_a and shop_b take turns", `<code title="` + head + `">` + head[:12] + "</code>", "rotated"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered page lacks %s", want)
		}
	}
	for name, v := range r.values {
		if strings.Contains(dom, v) {
			t.Errorf("the page shows the value of %s", name)
		}
	}
	shot := filepath.Join(t.TempDir(), "status.png")
	headless(t, bin, "--screenshot="+shot, "--window-size=1280,1600", "http://"+statusAddr+"/")
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 1600 {
		t.Errorf("screenshot is %v, want 1280x1600", b)
	}
	if dir := os.Getenv("REKEY_SCREENSHOT_DIR"); dir != "" {
		data, _ := os.ReadFile(shot)
		os.WriteFile(filepath.Join(dir, "e2e-status.png"), data, 0o644)
	}
}
