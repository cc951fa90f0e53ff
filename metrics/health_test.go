package metrics

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func get(t *testing.T, m *Metrics, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func expectGet(t *testing.T, m *Metrics, path string, code int, body string) {
	t.Helper()
	if gc, gb := get(t, m, path); gc != code || gb != body {
		t.Errorf("GET %s = %d %q, want %d %q", path, gc, gb, code, body)
	}
}

func TestHealthzFailsWhenBeatsStop(t *testing.T) {
	m, c := newTest(t, WithLiveness(3*time.Minute))
	expectGet(t, m, "/healthz", 200, "ok\n") // New counts as a beat

	c.Advance(3 * time.Minute) // exactly at the limit: still alive
	expectGet(t, m, "/healthz", 200, "ok\n")
	c.Advance(time.Second)
	expectGet(t, m, "/healthz", 503, "no heartbeat from the agent loop for 3m1s (limit 3m0s)\n")

	m.Beat()
	expectGet(t, m, "/healthz", 200, "ok\n")
	c.Advance(2 * time.Minute)
	m.Beat()
	c.Advance(2 * time.Minute) // four minutes since New, two since the last beat
	expectGet(t, m, "/healthz", 200, "ok\n")
	c.Advance(90 * time.Second)
	expectGet(t, m, "/healthz", 503, "no heartbeat from the agent loop for 3m30s (limit 3m0s)\n")
}

func TestHealthzDefaultLiveness(t *testing.T) {
	for _, opts := range [][]Option{nil, {WithLiveness(0)}, {WithLiveness(-time.Second)}} {
		m, c := newTest(t, opts...)
		c.Advance(DefaultLiveness)
		expectGet(t, m, "/healthz", 200, "ok\n")
		c.Advance(time.Millisecond)
		expectGet(t, m, "/healthz", 503, "no heartbeat from the agent loop for 3m0.001s (limit 3m0s)\n")
	}
}

// A clock that steps back (an injected one, or a wall clock reset) must not fail the probe.
func TestHealthzClockStepsBack(t *testing.T) {
	m, c := newTest(t)
	c.Advance(-time.Hour)
	expectGet(t, m, "/healthz", 200, "ok\n")
}

func TestReadyzTransitions(t *testing.T) {
	m, c := newTest(t)
	expectGet(t, m, "/readyz", 503, "first reconcile not finished\n")

	m.SetReady(true, "")
	expectGet(t, m, "/readyz", 200, "ok\n")
	m.SetReady(false, "last reconcile failed: remote unreachable")
	expectGet(t, m, "/readyz", 503, "last reconcile failed: remote unreachable\n")
	m.SetReady(true, "ignored when ready")
	expectGet(t, m, "/readyz", 200, "ok\n")
	m.SetReady(false, "")
	expectGet(t, m, "/readyz", 503, "not ready\n")
	m.SetReady(false, "  last reconcile failed:\n  step 1: boom\r\n\tstep 2: bang  ")
	expectGet(t, m, "/readyz", 503, "last reconcile failed: step 1: boom step 2: bang\n")

	// Readiness and liveness are independent: a dead loop does not change what readyz says.
	m.SetReady(true, "")
	c.Advance(time.Hour)
	expectGet(t, m, "/readyz", 200, "ok\n")
	if code, _ := get(t, m, "/healthz"); code != 503 {
		t.Errorf("GET /healthz = %d, want 503", code)
	}
}

func TestReadyzLongReasonIsCut(t *testing.T) {
	m, _ := newTest(t)
	m.SetReady(false, strings.Repeat("é", 1000)) // two bytes each: the cut may split one
	_, body := get(t, m, "/readyz")
	line := strings.TrimSuffix(body, "\n")
	if len(line) > maxReason || !utf8.ValidString(line) || !strings.HasSuffix(line, "…") ||
		strings.Contains(line, "\n") {
		t.Errorf("reason = %q (%d bytes), want at most %d bytes of valid UTF-8 ending in …",
			line, len(line), maxReason)
	}
	m.SetReady(false, "bad \xff byte")
	expectGet(t, m, "/readyz", 503, "bad \uFFFD byte\n")
}
