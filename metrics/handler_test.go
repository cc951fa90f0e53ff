package metrics

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestRouting(t *testing.T) {
	m, _ := newTest(t)
	m.SetReady(true, "")
	h := m.Handler()
	for _, tc := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/metrics", 200},
		{"HEAD", "/metrics", 200},
		{"GET", "/healthz", 200},
		{"HEAD", "/healthz", 200},
		{"GET", "/readyz", 200},
		{"HEAD", "/readyz", 200},
		{"GET", "/healthz?verbose", 200},
		{"GET", "/", 404},
		{"GET", "/metrics/", 404},
		{"GET", "/healthz/", 404},
		{"GET", "/readyz/x", 404},
		{"GET", "/Metrics", 404},
		{"GET", "/debug/pprof/", 404},
		{"POST", "/nope", 404}, // unknown path first: 404 whatever the method
		{"POST", "/metrics", 405},
		{"PUT", "/healthz", 405},
		{"DELETE", "/readyz", 405},
		{"OPTIONS", "/metrics", 405},
		{"PATCH", "/metrics", 405},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if rec.Code != tc.code {
			t.Errorf("%s %s = %d, want %d", tc.method, tc.path, rec.Code, tc.code)
		}
		if tc.code == 405 && rec.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s %s: Allow = %q, want \"GET, HEAD\"", tc.method, tc.path, rec.Header().Get("Allow"))
		}
	}
}

func TestProbeHeaders(t *testing.T) {
	m, _ := newTest(t)
	for _, p := range []string{"/healthz", "/readyz", "/nope"} {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
		h := rec.Header()
		if h.Get("Content-Type") != "text/plain; charset=utf-8" || h.Get("Cache-Control") != "no-store" ||
			h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s headers = %v", p, h)
		}
	}
}

func TestMetricsIsTextExposition(t *testing.T) {
	m, _ := newTest(t)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type = %q", ct)
	}
	if !strings.Contains(string(body), "\nrekey_build_info{") {
		t.Errorf("no rekey_build_info in:\n%s", body)
	}

	// HEAD over a real connection: headers, no body.
	resp, err = http.Head(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(b) != 0 {
		t.Errorf("HEAD /healthz = %d with %d body bytes", resp.StatusCode, len(b))
	}
}

func TestServeShutsDownWhenContextEnds(t *testing.T) {
	m, _ := newTest(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- m.serve(ctx, ln) }()

	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok\n" {
		t.Fatalf("GET /healthz = %d %q", resp.StatusCode, body)
	}

	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("serve returned %v after a clean shutdown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return after the context ended")
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Error("the listener is still open after shutdown")
	}
}

func TestServeListenError(t *testing.T) {
	m, _ := newTest(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = m.Serve(t.Context(), ln.Addr().String()) // the port is taken
	if err == nil || !strings.HasPrefix(err.Error(), "failed to listen for metrics on 127.0.0.1:") {
		t.Errorf("Serve on a taken port = %v", err)
	}
}

// Serve with a context that is already over returns promptly: nil after listening and shutting down
// at once, or the listen error if the cancelled context stopped it first.
func TestServeCancelledContext(t *testing.T) {
	m, _ := newTest(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	errc := make(chan error, 1)
	go func() { errc <- m.Serve(ctx, "127.0.0.1:0") }()
	select {
	case err := <-errc:
		if err != nil && !strings.HasPrefix(err.Error(), "failed to listen for metrics") {
			t.Errorf("Serve with a cancelled context = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
}
