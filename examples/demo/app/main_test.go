package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	testCurrent  = "current-secret-0123456789abcdef"
	testPrevious = "previous-secret-0123456789abcdef"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestFingerprint(t *testing.T) {
	// sha256("hello") = 2cf24dba5fb0a30e...
	if got, want := fingerprint("hello"), "2cf24dba5fb0a30e"; got != want {
		t.Fatalf("fingerprint(hello) = %q, want %q", got, want)
	}
	if got := fingerprintOrEmpty(""); got != "" {
		t.Fatalf("fingerprintOrEmpty(\"\") = %q, want empty", got)
	}
}

func TestLoadWebConfig(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "webhook_token")
	if err := os.WriteFile(tokenFile, []byte("tok-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		want    webConfig
	}{
		{
			name:    "missing",
			env:     map[string]string{"WEBHOOK_TOKEN_FILE": tokenFile},
			wantErr: "SESSION_SECRET is required",
		},
		{
			name:    "too short",
			env:     map[string]string{"SESSION_SECRET": "tiny-val", "WEBHOOK_TOKEN_FILE": tokenFile},
			wantErr: "SESSION_SECRET is too short",
		},
		{
			name:    "15 bytes",
			env:     map[string]string{"SESSION_SECRET": "0123456789abcde", "WEBHOOK_TOKEN_FILE": tokenFile},
			wantErr: "SESSION_SECRET is too short",
		},
		{
			name:    "previous too short",
			env:     map[string]string{"SESSION_SECRET": testCurrent, "SESSION_SECRET_PREVIOUS": "x", "WEBHOOK_TOKEN_FILE": tokenFile},
			wantErr: "SESSION_SECRET_PREVIOUS is too short",
		},
		{
			name: "16 bytes, token file trimmed",
			env:  map[string]string{"SESSION_SECRET": "0123456789abcdef", "WEBHOOK_TOKEN_FILE": tokenFile},
			want: webConfig{Current: "0123456789abcdef", WebhookToken: "tok-value"},
		},
		{
			name: "missing token file is no token",
			env:  map[string]string{"SESSION_SECRET": testCurrent, "SESSION_SECRET_PREVIOUS": testPrevious, "WEBHOOK_TOKEN_FILE": filepath.Join(dir, "nope")},
			want: webConfig{Current: testCurrent, Previous: testPrevious},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := loadWebConfig(env(tt.env))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "short") && strings.Contains(err.Error(), tt.env["SESSION_SECRET"]) {
					t.Fatalf("error reveals the value: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got != tt.want {
				t.Fatalf("config = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestRunTooShort checks the exit code and log line of the real entry point.
func TestRunTooShort(t *testing.T) {
	var logs bytes.Buffer
	log.SetOutput(&logs)
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	for _, mode := range []string{"web", "worker"} {
		logs.Reset()
		code := run([]string{mode}, env(map[string]string{"SESSION_SECRET": "tooshort"}), io.Discard, io.Discard)
		if code != 1 {
			t.Errorf("%s: exit code %d, want 1", mode, code)
		}
		if !strings.Contains(logs.String(), "fatal: SESSION_SECRET is too short") {
			t.Errorf("%s: log %q lacks the fatal line", mode, logs.String())
		}
		if strings.Contains(logs.String(), "tooshort") {
			t.Errorf("%s: log reveals the value: %q", mode, logs.String())
		}
	}
}

func postJob(t *testing.T, h http.Handler, body, sig string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/jobs", strings.NewReader(body))
	if sig != "" {
		req.Header.Set("X-Signature", sig)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestWebJobs(t *testing.T) {
	body := `{"job":1}`
	tests := []struct {
		name     string
		previous string
		sig      string
		want     int
	}{
		{"current key", "", sign(testCurrent, []byte(body)), http.StatusOK},
		{"current key with previous set", testPrevious, sign(testCurrent, []byte(body)), http.StatusOK},
		{"previous key", testPrevious, sign(testPrevious, []byte(body)), http.StatusOK},
		{"previous key after it was cleared", "", sign(testPrevious, []byte(body)), http.StatusUnauthorized},
		{"other key", testPrevious, sign("some-other-secret-value", []byte(body)), http.StatusUnauthorized},
		{"signature over another body", "", sign(testCurrent, []byte(`{"job":2}`)), http.StatusUnauthorized},
		{"no signature", testPrevious, "", http.StatusUnauthorized},
		{"not hex", "", "zz", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			h := newWebHandler(webConfig{Current: testCurrent, Previous: tt.previous}, nil, log.New(&logs, "", 0))
			rec := postJob(t, h, body, tt.sig)
			if rec.Code != tt.want {
				t.Fatalf("status = %d, want %d (body %q)", rec.Code, tt.want, rec.Body.String())
			}
			rejected := strings.Contains(logs.String(), "invalid signature")
			if rejected != (tt.want == http.StatusUnauthorized) {
				t.Fatalf("log %q: rejection logged = %v, want %v", logs.String(), rejected, !rejected)
			}
		})
	}
}

func TestWebHealthAndFingerprint(t *testing.T) {
	h := newWebHandler(webConfig{Current: testCurrent, Previous: testPrevious, WebhookToken: "tok"}, nil, log.New(io.Discard, "", 0))

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != "ok" {
		t.Fatalf("healthz = %d %q", rec.Code, rec.Body.String())
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/fingerprint", nil))
	var got map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("fingerprint body %q: %v", rec.Body.String(), err)
	}
	want := map[string]string{
		"session_key":          fingerprint(testCurrent),
		"session_key_previous": fingerprint(testPrevious),
		"webhook_token":        fingerprint("tok"),
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if strings.Contains(rec.Body.String(), testCurrent) {
		t.Fatal("fingerprint reveals the secret")
	}

	// Without previous or token, both fields are present and empty.
	h = newWebHandler(webConfig{Current: testCurrent}, nil, log.New(io.Discard, "", 0))
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/fingerprint", nil))
	got = nil
	json.Unmarshal(rec.Body.Bytes(), &got)
	if v, ok := got["session_key_previous"]; !ok || v != "" {
		t.Errorf("session_key_previous = %q (present %v), want empty", v, ok)
	}
	if v, ok := got["webhook_token"]; !ok || v != "" {
		t.Errorf("webhook_token = %q (present %v), want empty", v, ok)
	}
}

// TestWorkerAgainstWeb runs the worker against the web handler through a real
// HTTP server: accepted with the right key, rejected (and unhealthy) with a
// wrong one, accepted again during a rotation via the previous key.
func TestWorkerAgainstWeb(t *testing.T) {
	var webLogs bytes.Buffer
	cfg := webConfig{Current: testCurrent}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		newWebHandler(cfg, nil, log.New(&webLogs, "", 0)).ServeHTTP(w, r)
	}))
	defer srv.Close()

	var workerLogs bytes.Buffer
	clock := time.Unix(0, 0)
	w := newWorker(testCurrent, srv.URL+"/", log.New(&workerLogs, "", 0))
	w.now = func() time.Time { return clock }
	health := func() int {
		rec := httptest.NewRecorder()
		w.handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
		return rec.Code
	}
	ctx := context.Background()

	if h := health(); h != http.StatusOK {
		t.Fatalf("health before first job = %d", h)
	}
	for i := 0; i < 3; i++ {
		if s := w.postJob(ctx); s != stateAccepted {
			t.Fatalf("job %d: state %v, want accepted", i, s)
		}
		clock = clock.Add(500 * time.Millisecond)
	}
	if n := strings.Count(workerLogs.String(), "job accepted"); n != 1 {
		t.Fatalf("job accepted logged %d times, want once: %q", n, workerLogs.String())
	}
	if h := health(); h != http.StatusOK {
		t.Fatalf("health after accepted = %d", h)
	}

	// The app is rotated to a new key the worker does not have yet.
	cfg = webConfig{Current: "new-secret-0123456789abcdef"}
	workerLogs.Reset()
	for i := 0; i < 4; i++ { // 2 s of jobs: at most 2 log lines
		if s := w.postJob(ctx); s != stateRejected {
			t.Fatalf("job %d: state %v, want rejected", i, s)
		}
		clock = clock.Add(500 * time.Millisecond)
	}
	if n := strings.Count(workerLogs.String(), "job rejected: invalid signature"); n != 2 {
		t.Fatalf("rejections logged %d times, want 2: %q", n, workerLogs.String())
	}
	if h := health(); h != http.StatusServiceUnavailable {
		t.Fatalf("health after rejection = %d, want 503", h)
	}
	if !strings.Contains(webLogs.String(), "invalid signature") {
		t.Fatalf("web did not log the rejection: %q", webLogs.String())
	}

	// Staged rotation: the old key is still accepted as previous.
	cfg = webConfig{Current: "new-secret-0123456789abcdef", Previous: testCurrent}
	workerLogs.Reset()
	if s := w.postJob(ctx); s != stateAccepted {
		t.Fatalf("state %v, want accepted via previous key", s)
	}
	if !strings.Contains(workerLogs.String(), "job accepted") {
		t.Fatalf("change back to accepted not logged: %q", workerLogs.String())
	}
	if h := health(); h != http.StatusOK {
		t.Fatalf("health after recovery = %d", h)
	}
}

func TestProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			http.Error(w, "nope", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()

	var out bytes.Buffer
	if code := run([]string{"probe", srv.URL + "/good"}, env(nil), &out, io.Discard); code != 0 || out.String() != "ok" {
		t.Fatalf("probe good: code %d out %q", code, out.String())
	}
	if code := run([]string{"probe", srv.URL + "/bad"}, env(nil), io.Discard, io.Discard); code != 1 {
		t.Fatalf("probe bad: code %d, want 1", code)
	}
	srv.Close()
	if code := run([]string{"probe", srv.URL}, env(nil), io.Discard, io.Discard); code != 1 {
		t.Fatalf("probe closed: code %d, want 1", code)
	}
	if code := run(nil, env(nil), io.Discard, io.Discard); code != 2 {
		t.Fatalf("no args: code %d, want 2", code)
	}
}
