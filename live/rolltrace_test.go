package live

import (
	"context"
	"strings"
	"testing"
	"time"
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
