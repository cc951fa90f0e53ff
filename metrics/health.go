package metrics

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// maxReason bounds a readiness reason: it is an error message of unknown length, and a probe response
// is read by kubelets and load balancers that want one short line.
const maxReason = 256

// health is the state behind /healthz and /readyz.
type health struct {
	mu     sync.Mutex
	beat   time.Time // last Beat (New counts as one)
	ready  bool
	reason string // why not ready; unused when ready
}

// Beat tells /healthz that the agent's loop is alive. Call it at least once per liveness window
// (WithLiveness), e.g. on every loop iteration and after every reconcile.
func (m *Metrics) Beat() {
	if m == nil {
		return
	}
	now := m.now()
	m.health.mu.Lock()
	m.health.beat = now
	m.health.mu.Unlock()
}

// SetReady sets what /readyz answers. Until the first call it answers 503 "first reconcile not
// finished". When ready is false, reason says why (e.g. "last reconcile failed: remote unreachable");
// it is made one line and cut to 256 bytes, and must not contain a secret value.
func (m *Metrics) SetReady(ready bool, reason string) {
	if m == nil {
		return
	}
	reason = oneLine(reason)
	if reason == "" {
		reason = "not ready"
	}
	m.health.mu.Lock()
	m.health.ready, m.health.reason = ready, reason
	m.health.mu.Unlock()
}

// live reports whether a Beat arrived within the liveness window, and if not, why.
func (m *Metrics) live() (bool, string) {
	now := m.now()
	m.health.mu.Lock()
	since := now.Sub(m.health.beat)
	m.health.mu.Unlock()
	if since <= m.liveness {
		return true, ""
	}
	return false, fmt.Sprintf("no heartbeat from the agent loop for %s (limit %s)",
		since.Truncate(time.Millisecond), m.liveness)
}

// readiness reports what SetReady last said.
func (m *Metrics) readiness() (bool, string) {
	m.health.mu.Lock()
	defer m.health.mu.Unlock()
	return m.health.ready, m.health.reason
}

// oneLine folds s into one trimmed line of at most maxReason bytes, valid UTF-8: a probe answer with a
// raw multi-line error would be split or mangled by whatever displays it.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(label(s)), " ")
	if len(s) <= maxReason {
		return s
	}
	s = s[:maxReason-len("…")]
	// Cutting may have split a multi-byte rune; drop the fragment.
	return strings.ToValidUTF8(s, "") + "…"
}
