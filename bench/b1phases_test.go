package main

import (
	"testing"
	"time"
)

// TestPhaseTable: steps and trace lines of an agent's log become phases, numbered when repeated, with
// their ends measured from the webhook; other lines are ignored.
func TestPhaseTable(t *testing.T) {
	start := time.Date(2026, 12, 7, 11, 0, 0, 0, time.Local)
	log := `rekey: agent listening
11:00:00.500  session-key      write /tmp/rekey-bench-stack-42/stack/.env:SESSION_SECRET = hmac:0123abcd (next)   ok (10ms)
rekey: trace 11:00:00.600 app scale-up 400ms
11:00:02.000  session-key      recreate app (start-first)                         ok (1.5s)
rekey: trace 11:00:03.000 app scale-up 500ms
11:00:04.000  session-key      recreate app (start-first)                         ok (1.9s)
11:00:04.050  session-key      verify http http://127.0.0.1:43475/healthz → 200   ok
11:00:04.100  session-key      verify logs                                        failed (20ms): logs of x contain "y"
`
	var p phaseTable
	p.add(log, start)
	want := []struct {
		key       string
		took, end time.Duration
	}{
		{"write .env:SESSION_SECRET = hmac:… (next)", 10 * time.Millisecond, 500 * time.Millisecond},
		{"  app: scale-up", 400 * time.Millisecond, time.Second},
		{"recreate app (start-first)", 1500 * time.Millisecond, 2 * time.Second},
		{"  app: scale-up #2", 500 * time.Millisecond, 3500 * time.Millisecond},
		{"recreate app (start-first) #2", 1900 * time.Millisecond, 4 * time.Second},
		{"verify http http://127.0.0.1:PORT/healthz → 200", 0, 4050 * time.Millisecond},
		{"verify logs", 20 * time.Millisecond, 4100 * time.Millisecond},
	}
	if len(p.order) != len(want) {
		t.Fatalf("phases %q", p.order)
	}
	for i, w := range want {
		st := p.stats[p.order[i]]
		if p.order[i] != w.key || st.took[0] != w.took || st.end[0] != w.end {
			t.Errorf("phase %d: %q took %s ended %s, want %q %s %s", i, p.order[i], st.took[0], st.end[0], w.key, w.took, w.end)
		}
	}
}
