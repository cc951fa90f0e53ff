package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseBootDelay(t *testing.T) {
	for value, want := range map[string]time.Duration{"": 0, "0": 0, "0s": 0, "2s": 2 * time.Second, "1500ms": 1500 * time.Millisecond} {
		if got, err := parseBootDelay(value); err != nil || got != want {
			t.Errorf("parseBootDelay(%q) = %s, %v; want %s", value, got, err, want)
		}
	}
	for value, want := range map[string]string{
		"2":    `DEMOAPP_BOOT_DELAY: "2" is not a duration (e.g. 2s, 1500ms)`,
		"soon": `DEMOAPP_BOOT_DELAY: "soon" is not a duration (e.g. 2s, 1500ms)`,
		"-1s":  "DEMOAPP_BOOT_DELAY: -1s is outside 0 to 5m0s",
		"6m":   "DEMOAPP_BOOT_DELAY: 6m0s is outside 0 to 5m0s",
	} {
		if _, err := parseBootDelay(value); err == nil || err.Error() != want {
			t.Errorf("parseBootDelay(%q): error %v, want %q", value, err, want)
		}
	}
}

// TestLoadWebConfigBootDelay: the web mode reads DEMOAPP_BOOT_DELAY and refuses a bad one.
func TestLoadWebConfigBootDelay(t *testing.T) {
	noToken := filepath.Join(t.TempDir(), "none")
	cfg, err := loadWebConfig(env(map[string]string{"SESSION_SECRET": testCurrent, "WEBHOOK_TOKEN_FILE": noToken, "DEMOAPP_BOOT_DELAY": "2s"}))
	if err != nil || cfg.BootDelay != 2*time.Second {
		t.Fatalf("boot delay %s, err %v; want 2s", cfg.BootDelay, err)
	}
	if _, err := loadWebConfig(env(map[string]string{"SESSION_SECRET": testCurrent, "WEBHOOK_TOKEN_FILE": noToken, "DEMOAPP_BOOT_DELAY": "x"})); err == nil {
		t.Fatal("DEMOAPP_BOOT_DELAY=x accepted")
	}
}

// freeAddr returns a loopback address nothing listens on (a port the kernel just handed out and freed).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestServeAfterBootDelay: with a boot delay the healthcheck probe fails (connection refused) until the
// delay has passed, then passes; the server shuts down when its context ends.
func TestServeAfterBootDelay(t *testing.T) {
	const delay = 600 * time.Millisecond
	addr := freeAddr(t)
	srv := &http.Server{Addr: addr, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
	ctx, cancel := context.WithCancel(context.Background())
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- serveContext(ctx, srv, delay, net.Listen) }()
	probeOK := func() bool {
		var stderr strings.Builder
		code := run([]string{"probe", "http://" + addr + "/healthz"}, env(nil), io.Discard, &stderr)
		if code != 0 && time.Since(start) < delay && !strings.Contains(stderr.String(), "refused") {
			t.Errorf("probe during the boot failed otherwise than refused: %s", stderr.String())
		}
		return code == 0
	}
	for time.Since(start) < delay-100*time.Millisecond {
		if probeOK() {
			t.Fatalf("probe passed %s after the start, before the boot delay of %s", time.Since(start), delay)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for !probeOK() {
		if time.Since(start) > delay+5*time.Second {
			t.Fatal("probe still failing 5 s after the boot delay")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if took := time.Since(start); took < delay {
		t.Fatalf("served after %s, before the boot delay of %s", took, delay)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if probeOK() {
		t.Fatal("probe passed after shutdown")
	}
}

// TestServeStoppedDuringBoot: a stop during the boot delay returns at once and never listens.
func TestServeStoppedDuringBoot(t *testing.T) {
	listened := false
	listen := func(network, addr string) (net.Listener, error) { listened = true; return net.Listen(network, addr) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveContext(ctx, &http.Server{Addr: freeAddr(t)}, time.Hour, listen) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil || listened {
			t.Fatalf("err %v, listened %v; want nil, false", err, listened)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not return within 5 s of the stop during its boot delay")
	}
}

// TestServeWithoutBootDelay: the default listens at once.
func TestServeWithoutBootDelay(t *testing.T) {
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	listening := make(chan time.Duration, 1)
	start := time.Now()
	listen := func(network, a string) (net.Listener, error) {
		listening <- time.Since(start)
		return net.Listen(network, a)
	}
	done := make(chan error, 1)
	go func() { done <- serveContext(ctx, &http.Server{Addr: addr}, 0, listen) }()
	if after := <-listening; after > 500*time.Millisecond {
		t.Errorf("listened after %s with no boot delay", after)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
