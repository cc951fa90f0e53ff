package live

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/dockerio"
)

// TestStartFirstTrace: a traced roll reports each phase once, in order, as "trace <time> <service>
// <phase> <duration>" lines.
func TestStartFirstTrace(t *testing.T) {
	f := &fakeService{hash: "old"}
	f.add("old", true)
	f.hash = "new"
	var lines []string
	r := startFirst{engine: f, compose: f, project: "p", health: time.Second, trace: TraceLines(func(l string) { lines = append(lines, l) })}
	if err := r.roll(context.Background(), "app", StartFirst{DrainExec: []string{"drain"}, DrainWait: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	var phases []string
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) != 5 || f[0] != "trace" || f[2] != "app" {
			t.Fatalf("line %q, want trace <time> app <phase> <duration>", l)
		}
		if _, err := time.Parse("15:04:05.000", f[1]); err != nil {
			t.Errorf("line %q: %v", l, err)
		}
		if _, err := time.ParseDuration(f[4]); err != nil {
			t.Errorf("line %q: %v", l, err)
		}
		phases = append(phases, f[3])
	}
	want := "config-hash scale-up healthy drain-exec drain-wait stop-old remove-old"
	if got := strings.Join(phases, " "); got != want {
		t.Errorf("phases %q, want %q", got, want)
	}
}

// TestTraceTimeline: the engine's timestamps of a new container become the create→start,
// start→first-probe and passing-probe phases (the first probe that passed, after a failing one).
func TestTraceTimeline(t *testing.T) {
	at := time.Date(2026, 12, 7, 11, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return at.Add(time.Duration(n) * time.Millisecond) }
	var got []string
	tr := RollTrace(func(service, phase string, began time.Time, took time.Duration) {
		got = append(got, fmt.Sprintf("%s %s %s", phase, began.Sub(at), took))
	})
	tr.timeline("app", dockerio.Timeline{Created: at, Started: ms(200), Probes: []dockerio.Probe{
		{Start: ms(1200), End: ms(1250), ExitCode: 1}, {Start: ms(2250), End: ms(2290)}, {Start: ms(3290), End: ms(3300)}}})
	want := "create→start 0s 200ms, start→first-probe 200ms 1s, passing-probe 2.25s 40ms"
	if strings.Join(got, ", ") != want {
		t.Errorf("phases %q, want %q", strings.Join(got, ", "), want)
	}
}
