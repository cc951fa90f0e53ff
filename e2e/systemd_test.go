package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/internal/testenv"
)

// TestSystemdUnit checks packaging/rekey-agent.service with systemd's own tools, offline (no systemd runs
// as PID 1 here): `systemd-analyze verify` accepts it with ExecStart pointing at the rekey binary the tests
// built, and `systemd-analyze security` rates its hardening at most 3.0 ("OK"). The unit is not started:
// that needs a booted systemd.
func TestSystemdUnit(t *testing.T) {
	bin, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("no systemd-analyze (CI is set, so this test must run): apt-get install -y systemd (scripts/setup.sh)")
		}
		t.Skip("no systemd-analyze: apt-get install -y systemd")
	}
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "packaging", "rekey-agent.service"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "/usr/local/bin/rekey") {
		t.Fatal("the unit no longer runs /usr/local/bin/rekey: update this test")
	}
	// No core file (rekey holds decrypted values in memory); commit verification on by default.
	for _, want := range []string{"\nLimitCORE=0\n", "--trust-ssh /etc/rekey/trusted-signers"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("the unit lacks %q", strings.TrimSpace(want))
		}
	}
	unit := filepath.Join(t.TempDir(), "rekey-agent.service")
	writeFile(t, unit, strings.ReplaceAll(string(data), "/usr/local/bin/rekey", rekeyBin))
	pkgRun(t, time.Minute, "", nil, bin, "verify", unit)
	out := pkgRun(t, time.Minute, "", nil, bin, "security", "--offline=true", unit)
	m := regexp.MustCompile(`Overall exposure level for rekey-agent\.service: ([0-9.]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	if level, _ := strconv.ParseFloat(m[1], 64); level > 3.0 {
		t.Errorf("exposure level %s, want at most 3.0 (the documented 2.5)", m[1])
	}
}
