package metrics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The metrics endpoint follows the status page's rule: loopback only, unless basic auth is on.
func TestCheckExposure(t *testing.T) {
	for _, tc := range []struct {
		addr    string
		auth    bool
		exposed bool
		invalid bool
	}{
		{"127.0.0.1:9464", false, false, false},
		{"[::1]:9464", false, false, false},
		{"localhost:9464", false, false, false},
		{":9464", false, true, false},
		{"0.0.0.0:9464", false, true, false},
		{"[::]:9464", false, true, false},
		{"192.168.1.10:9464", false, true, false},
		{"metrics.example.com:9464", false, true, false},
		{":9464", true, false, false},
		{"0.0.0.0:9464", true, false, false},
		{"127.0.0.1", false, false, true},
		{"", true, false, true},
	} {
		err := CheckExposure(tc.addr, tc.auth)
		switch {
		case tc.exposed:
			want := "the metrics endpoint on " + tc.addr + " is reachable from other hosts: bind it to 127.0.0.1 or set --metrics-basic-auth-file"
			if err == nil || err.Error() != want {
				t.Errorf("CheckExposure(%q, %v) = %v, want %q", tc.addr, tc.auth, err, want)
			}
		case tc.invalid:
			if err == nil || !strings.Contains(err.Error(), "invalid metrics endpoint address") {
				t.Errorf("CheckExposure(%q, %v) = %v, want an invalid address error", tc.addr, tc.auth, err)
			}
		case err != nil:
			t.Errorf("CheckExposure(%q, %v) = %v, want nil", tc.addr, tc.auth, err)
		}
	}
}

// Serve refuses a public address without basic auth before it listens. 192.0.2.1 (TEST-NET-1) is no
// address of this host: listening there would fail anyway, but with another error.
func TestServeRefusesPublicAddressWithoutAuth(t *testing.T) {
	m, _ := newTest(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err := m.Serve(ctx, "192.0.2.1:9464")
	if err == nil || !strings.Contains(err.Error(), "reachable from other hosts") {
		t.Fatalf("Serve on a public address without auth = %v, want the exposure error", err)
	}
	// With auth, the exposure check passes and Serve gets as far as listening.
	m, _ = newTest(t, WithBasicAuth("prometheus", "a-long-scrape-password"))
	err = m.Serve(ctx, "192.0.2.1:9464")
	if err == nil || strings.Contains(err.Error(), "reachable from other hosts") || !strings.HasPrefix(err.Error(), "failed to listen for metrics") {
		t.Fatalf("Serve on a public address with auth = %v, want a listen error only", err)
	}
}

func TestBasicAuth(t *testing.T) {
	m, _ := newTest(t, WithBasicAuth("prometheus", "a-long-scrape-password"))
	m.SetReady(true, "")
	h := m.Handler()
	for _, tc := range []struct {
		path, user, pass string
		set              bool
		want             int
	}{
		{"/metrics", "", "", false, http.StatusUnauthorized},
		{"/healthz", "", "", false, http.StatusUnauthorized},
		{"/readyz", "", "", false, http.StatusUnauthorized},
		{"/nope", "", "", false, http.StatusUnauthorized},
		{"/metrics", "prometheus", "wrong-password-entirely", true, http.StatusUnauthorized},
		{"/metrics", "other", "a-long-scrape-password", true, http.StatusUnauthorized},
		{"/metrics", "prometheus", "a-long-scrape-password", true, http.StatusOK},
		{"/readyz", "prometheus", "a-long-scrape-password", true, http.StatusOK},
	} {
		req := httptest.NewRequest(http.MethodGet, tc.path, nil)
		if tc.set {
			req.SetBasicAuth(tc.user, tc.pass)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("GET %s as %q: %d, want %d", tc.path, tc.user, rec.Code, tc.want)
		}
		if rec.Code == http.StatusUnauthorized {
			if !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Basic ") {
				t.Errorf("GET %s: 401 without a Basic challenge", tc.path)
			}
			if strings.Contains(rec.Body.String(), "rekey_") {
				t.Errorf("GET %s: 401 body shows metrics", tc.path)
			}
		}
	}
	// An empty password lets nobody in.
	m, _ = newTest(t, WithBasicAuth("prometheus", ""))
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.SetBasicAuth("prometheus", "")
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("empty password: %d, want 401", rec.Code)
	}
}
