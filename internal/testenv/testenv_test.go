package testenv

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDemoStack brings the demo stack up and checks that the app and the
// worker run with the secrets of the copied .env and secret file.
func TestDemoStack(t *testing.T) {
	RequireImages(t, DemoImages...)
	s := NewStack(t, DemoStackDir(t))
	s.Up(t)

	env := s.DotEnv(t)
	if env["APP_PORT"] != strconv.Itoa(s.AppPort) {
		t.Fatalf(".env APP_PORT = %q, want %d", env["APP_PORT"], s.AppPort)
	}
	want := Fingerprint(env["SESSION_SECRET"])
	token := strings.TrimRight(s.ReadFile(t, "secrets/webhook_token.txt"), "\r\n")

	app := s.Fingerprint(t, "app")
	if app["session_key"] != want {
		t.Errorf("app session_key = %q, want %q", app["session_key"], want)
	}
	if app["session_key_previous"] != "" {
		t.Errorf("app session_key_previous = %q, want empty", app["session_key_previous"])
	}
	if app["webhook_token"] != Fingerprint(token) {
		t.Errorf("app webhook_token = %q, want %q", app["webhook_token"], Fingerprint(token))
	}
	worker := s.Fingerprint(t, "worker")
	if worker["session_key"] != want {
		t.Errorf("worker session_key = %q, want %q", worker["session_key"], want)
	}

	// The worker's jobs are accepted, and no secret value reaches the logs.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.Logs(t, "worker"), "job accepted") {
		if time.Now().After(deadline) {
			t.Fatalf("worker never logged an accepted job:\n%s", s.Logs(t, "worker"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	logs := s.Logs(t)
	for _, secret := range []string{env["SESSION_SECRET"], token, env["REDIS_PASSWORD"], env["DB_PASSWORD"], env["POSTGRES_PASSWORD"]} {
		if strings.Contains(logs, secret) {
			t.Errorf("a secret value appears in the logs")
		}
	}
	if strings.Contains(logs, "invalid signature") {
		t.Errorf("unexpected rejection in the logs:\n%s", logs)
	}

	// Exec and ContainerID work on every service. Redis wants its password (REDIS_PASSWORD in .env).
	if out, err := s.Exec(t, "redis", "redis-cli", "ping"); err != nil || !strings.HasPrefix(out, "NOAUTH") {
		t.Errorf("redis-cli ping without the password = %q, %v; want NOAUTH", out, err)
	}
}

func TestCopyTemplate(t *testing.T) {
	src := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(src, "secrets"), 0o755))
	must(os.WriteFile(filepath.Join(src, "compose.yaml"), []byte("services: {}\n"), 0o644))
	must(os.WriteFile(filepath.Join(src, "run.sh"), []byte("#!/bin/sh\n"), 0o755))
	must(os.WriteFile(filepath.Join(src, ".env"), []byte("# header\nA=1\nAPP_PORT=18080\n"), 0o644))
	must(os.WriteFile(filepath.Join(src, "app.env"), []byte("B=2\n"), 0o644))
	must(os.WriteFile(filepath.Join(src, "secrets", "token.txt"), []byte("t\n"), 0o644))

	dst := filepath.Join(t.TempDir(), "stack")
	must(copyTemplate(src, dst))
	for rel, want := range map[string]os.FileMode{
		"compose.yaml":      0o644,
		"run.sh":            0o755,
		".env":              0o600,
		"app.env":           0o600,
		"secrets/token.txt": 0o600,
	} {
		fi, err := os.Stat(filepath.Join(dst, rel))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %o, want %o", rel, got, want)
		}
	}

	envFile := filepath.Join(dst, ".env")
	must(setEnvVar(envFile, "APP_PORT", "12345"))
	must(setEnvVar(envFile, "NEW", "x"))
	b, err := os.ReadFile(envFile)
	must(err)
	if got, want := string(b), "# header\nA=1\nAPP_PORT=12345\nNEW=x\n"; got != want {
		t.Errorf(".env = %q, want %q", got, want)
	}
	env := parseEnv(string(b) + "Q=\"quoted value\"\nE=\n")
	if env["APP_PORT"] != "12345" || env["Q"] != "quoted value" || env["E"] != "" || len(env) != 5 {
		t.Errorf("parseEnv = %v", env)
	}
}

func TestFingerprint(t *testing.T) {
	if got, want := Fingerprint("hello"), "2cf24dba5fb0a30e"; got != want {
		t.Fatalf("Fingerprint(hello) = %q, want %q", got, want)
	}
}
