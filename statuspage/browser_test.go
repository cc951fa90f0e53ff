package statuspage

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The browser tests render the page in headless Chromium (Debian package chromium; scripts/setup.sh installs
// it). Like internal/testenv, they skip without it on a developer machine and fail when CI is set: a green
// CI run means the page was rendered by a real browser. REKEY_CHROMIUM names the binary to use instead of
// the first of chromium, chromium-browser on PATH; REKEY_SCREENSHOT_DIR, when set, receives a copy of every
// screenshot.

// chromiumTimeout bounds one Chromium run.
const chromiumTimeout = 2 * time.Minute

// requireTool returns the path of the first of names on PATH (or of $env when set). Without one it skips
// the test, or fails it when CI is set: in CI, nothing may be skipped for a missing tool.
func requireTool(t *testing.T, env, hint string, names ...string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		names = []string{p}
	}
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	reason := fmt.Sprintf("none of %s found", strings.Join(names, ", "))
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set, so this test must run; %s)", reason, hint)
	}
	t.Skipf("%s; %s", reason, hint)
	return ""
}

func requireChromium(t *testing.T) string {
	return requireTool(t, "REKEY_CHROMIUM", "install it with apt-get install -y chromium (scripts/setup.sh), or set REKEY_CHROMIUM",
		"chromium", "chromium-browser")
}

// runChromium runs headless Chromium with its own profile and returns its standard output.
func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), chromiumTimeout)
	defer cancel()
	profile := t.TempDir()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", // --no-sandbox: Chromium refuses to run as root otherwise
		"--hide-scrollbars", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
		"--disable-background-networking", "--disable-breakpad", "--disable-dev-shm-usage",
		"--force-color-profile=srgb", "--force-device-scale-factor=1",
		"--user-data-dir=" + profile,
	}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+profile, "XDG_CONFIG_HOME="+profile, "XDG_CACHE_HOME="+profile)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v (after %v)\n%s", strings.Join(args, " "), err, time.Since(start).Round(time.Millisecond), tail(stderr.String(), 40))
	}
	t.Logf("chromium %s: %v", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	return stdout.Bytes()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func TestBrowser(t *testing.T) {
	bin := requireChromium(t)
	srv := httptest.NewServer(Handler(&fixedSource{m: fixture()}, WithRefresh(0)))
	t.Cleanup(srv.Close)
	synced := httptest.NewServer(Handler(&fixedSource{m: inSync()}, WithRefresh(0)))
	t.Cleanup(synced.Close)
	evil := httptest.NewServer(Handler(&fixedSource{m: hostile()}, WithRefresh(0)))
	t.Cleanup(evil.Close)
	for _, s := range []*httptest.Server{srv, synced, evil} {
		if !strings.HasPrefix(s.URL, "http://127.0.0.1:") {
			t.Fatalf("test server on %s, want loopback", s.URL)
		}
	}

	t.Run("dom", func(t *testing.T) {
		t.Parallel()
		dom := string(runChromium(t, bin, "--dump-dom", srv.URL+"/"))
		for _, want := range []string{
			"<h1>3 places drifted · 1 rotation failed</h1>",
			`<p class="banner-label">PROBLEM</p>`,
			"<h3>api-signing-key</h3>", "<h3>backup-token</h3>", "<h3>session-key</h3>", "<h3>smtp-password</h3>", "<h3>webhook-token</h3>",
			`<span class="badge bad">stale-consumer</span>`,
			`<span class="badge bad">source-edited</span>`,
			`<span class="badge bad">rolled-back</span>`,
			`<span class="badge warn">unknown</span>`,
			`<span class="badge info">pending</span>`,
			`<span class="badge ok">in-sync</span>`,
			`<span class="badge info">rolling</span>`,
			`<code>77aa01bc23de</code>`,
			`<code>65083c668c81</code>`,
			`(2h3m ago)`,
		} {
			if !strings.Contains(dom, want) {
				t.Errorf("the rendered DOM lacks %s", want)
			}
		}
		if strings.Contains(dom, "<script") {
			t.Error("the rendered DOM has a script element")
		}
	})

	t.Run("hostile-dom", func(t *testing.T) {
		t.Parallel()
		dom := string(runChromium(t, bin, "--dump-dom", evil.URL+"/"))
		if !strings.Contains(dom, "<h3>&lt;script&gt;alert(1)&lt;/script&gt;</h3>") {
			t.Errorf("the hostile secret name is not rendered as text:\n%s", dom)
		}
		for _, bad := range []string{"<script", "<img", "<b>"} {
			if strings.Contains(dom, bad) {
				t.Errorf("the hostile page's DOM has %s", bad)
			}
		}
	})

	// The banner colors of style.css: finding them in a screenshot shows that the stylesheet loaded under the
	// Content-Security-Policy and that the banner is drawn.
	bad := [3]uint8{0xb3, 0x26, 0x1e}
	ok := [3]uint8{0x1a, 0x7f, 0x37}
	for _, tc := range []struct {
		name          string
		url           string
		width, height int
		banner        [3]uint8
	}{
		{"desktop", srv.URL + "/", 1200, 1600, bad},
		{"mobile", srv.URL + "/", 390, 2400, bad},
		{"desktop-insync", synced.URL + "/", 1200, 900, ok},
	} {
		t.Run("screenshot-"+tc.name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "statuspage-"+tc.name+".png")
			runChromium(t, bin, "--screenshot="+out, fmt.Sprintf("--window-size=%d,%d", tc.width, tc.height), tc.url)
			img := decodePNG(t, out)
			if b := img.Bounds(); b.Dx() != tc.width || b.Dy() != tc.height {
				t.Errorf("screenshot is %dx%d, want %dx%d", b.Dx(), b.Dy(), tc.width, tc.height)
			}
			colors, banner := colorStats(img, tc.banner)
			if colors < 64 {
				t.Errorf("screenshot has %d distinct colors: blank or unstyled", colors)
			}
			// The banner spans the width and is at least about 100 px high.
			if min := tc.width * 80; banner < min {
				t.Errorf("screenshot has %d pixels of the banner color %x, want at least %d: style.css not applied?", banner, tc.banner, min)
			}
			t.Logf("%s: %d distinct colors, %d banner pixels", out, colors, banner)
			if dir := os.Getenv("REKEY_SCREENSHOT_DIR"); dir != "" {
				copyFile(t, out, filepath.Join(dir, filepath.Base(out)))
			}
		})
	}
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	return img
}

// colorStats counts the distinct colors of img and the pixels within 3 of want on every channel.
func colorStats(img image.Image, want [3]uint8) (distinct, matching int) {
	seen := map[uint32]bool{}
	b := img.Bounds()
	near := func(a uint32, w uint8) bool {
		d := int(a>>8) - int(w)
		return d >= -3 && d <= 3
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[(r>>8)<<16|(g>>8)<<8|bl>>8] = true
			if near(r, want[0]) && near(g, want[1]) && near(bl, want[2]) {
				matching++
			}
		}
	}
	return len(seen), matching
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot copied to %s", dst)
}
