package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/reconcile"
)

func TestLiveProgress(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	for _, color := range []bool{true, false} {
		var b bytes.Buffer
		now := t0
		p := &liveProgress{w: &b, color: color, now: func() time.Time { return now }, tick: time.Hour}
		p.event(reconcile.Event{Time: t0, Secret: "session-key", Step: "wait healthy worker", Status: "start"})
		now = t0.Add(2300 * time.Millisecond)
		p.redraw(p.gen) // what the timer does while the step runs
		p.event(reconcile.Event{Time: now, Secret: "session-key", Step: "wait healthy worker", Status: "ok", Elapsed: 2300 * time.Millisecond})
		p.event(reconcile.Event{Time: now, Secret: "session-key", Step: "verify logs", Status: "start"})
		p.event(reconcile.Event{Time: now, Secret: "session-key", Step: "verify logs", Status: "failed", Elapsed: time.Second, Err: "denied pattern"})
		out := b.String()
		for _, want := range []string{"wait healthy worker", "2.3s", "✓", "✗", "denied pattern", "\r\033[K"} {
			if !strings.Contains(out, want) {
				t.Errorf("color=%v: output lacks %q:\n%q", color, want, out)
			}
		}
		if hasColor := strings.Contains(out, "\033[32m"); hasColor != color {
			t.Errorf("color=%v but colour codes present=%v (NO_COLOR must turn them off)", color, hasColor)
		}
		if p.timer != nil || p.cur != nil {
			t.Error("a finished step left its redraw timer running")
		}
		// A timer of an earlier step that fires late draws nothing.
		n := b.Len()
		p.event(reconcile.Event{Time: now, Secret: "s", Step: "next", Status: "start"})
		stale := p.gen - 1
		n = b.Len()
		p.redraw(stale)
		if b.Len() != n {
			t.Error("a stale redraw drew over the next step")
		}
	}
}

func TestProgressIsPlainOffATerminal(t *testing.T) {
	var b bytes.Buffer
	report := newProgress(&b, func(string) string { return "" })
	report(reconcile.Event{Time: time.Now(), Secret: "s", Step: "recreate app", Status: "start"})
	report(reconcile.Event{Time: time.Now(), Secret: "s", Step: "recreate app", Status: "ok", Elapsed: time.Second})
	if out := b.String(); strings.Contains(out, "\033") || strings.Count(out, "\n") != 1 || !strings.Contains(out, "recreate app") {
		t.Errorf("off a terminal: %q, want one plain line", out)
	}
}
