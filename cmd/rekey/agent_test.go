package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The metrics name every secret: an endpoint other hosts can reach needs --metrics-basic-auth-file, and
// is refused (exit 2) before anything starts; loopback is fine without it.
func TestAgentMetricsExposure(t *testing.T) {
	dir := t.TempDir()
	auth := filepath.Join(dir, "auth")
	if err := os.WriteFile(auth, []byte("prometheus:a-long-enough-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state") // no journal: an agent that passed the checks stops there (exit 1)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--metrics-addr", ":9464"}, exitUsage, "the metrics endpoint on :9464 is reachable from other hosts: bind it to 127.0.0.1 or set --metrics-basic-auth-file"},
		{[]string{"--metrics-addr", "0.0.0.0:9464"}, exitUsage, "reachable from other hosts"},
		{[]string{"--metrics-basic-auth-file", auth}, exitUsage, "--metrics-basic-auth-file needs --metrics-addr"},
		{[]string{"--metrics-addr", "127.0.0.1:9464"}, exitError, "has no journal"},
		{[]string{"--metrics-addr", ":9464", "--metrics-basic-auth-file", auth}, exitError, "has no journal"},
		{[]string{"--metrics-addr", ":9464", "--metrics-basic-auth-file", filepath.Join(dir, "missing")}, exitError, "missing"},
	} {
		var stdout, stderr bytes.Buffer
		args := append([]string{"agent", "--state-dir", state}, c.args...)
		code := run(context.Background(), args, env{stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }})
		if code != c.code || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("rekey %q: exit %d, stderr %q; want exit %d and %q", args, code, stderr.String(), c.code, c.want)
		}
		if _, err := os.Stat(state); err == nil {
			t.Fatalf("rekey %q created the state dir", args)
		}
	}
}
