package live

import (
	"context"
	"fmt"
	"time"

	"github.com/rekeyhq/rekey/dockerio"
)

// RollTrace receives the phases of a roll as each one ends: the service, the phase, when it began and
// how long it took. Names and timings only, never a value or a container's output, so it may go to any
// log. Switched on by REKEY_TRACE (docs/cli.md#environment); nil traces nothing.
type RollTrace func(service, phase string, began time.Time, took time.Duration)

// TraceLines formats each phase as one line for a log: "trace 15:04:05.000 app scale-up 412ms".
func TraceLines(line func(string)) RollTrace {
	return func(service, phase string, began time.Time, took time.Duration) {
		line(fmt.Sprintf("trace %s %s %s %s", began.Format("15:04:05.000"), service, phase, took.Round(time.Millisecond)))
	}
}

// since reports a phase that began at began and ends now.
func (t RollTrace) since(service, phase string, began time.Time) {
	if t != nil {
		t(service, phase, began, time.Since(began))
	}
}

// span reports a phase whose ends the engine measured (a container's creation, start, first probe).
func (t RollTrace) span(service, phase string, from, to time.Time) {
	if t != nil && !from.IsZero() && !to.IsZero() {
		t(service, phase, from, to.Sub(from))
	}
}

// timeliner is the engine's view of a container's creation, start and health probes (dockerio.Engine).
type timeliner interface {
	Timeline(ctx context.Context, id string) (dockerio.Timeline, error)
}

// traceTimelines splits the time from `compose up` to healthy of each container as the engine saw it:
// created → started, started → the first health probe (the healthcheck's interval: Docker probes only
// after it), and the first probe that passed. Only when tracing; an engine that cannot tell is skipped.
func (r startFirst) traceTimelines(ctx context.Context, service string, ids []string) {
	tl, ok := r.engine.(timeliner)
	if r.trace == nil || !ok {
		return
	}
	for _, id := range ids {
		if t, err := tl.Timeline(ctx, id); err == nil {
			r.trace.timeline(service, t)
		}
	}
}

func (t RollTrace) timeline(service string, tl dockerio.Timeline) {
	t.span(service, "create→start", tl.Created, tl.Started)
	if len(tl.Probes) == 0 {
		return
	}
	t.span(service, "start→first-probe", tl.Started, tl.Probes[0].Start)
	for _, p := range tl.Probes {
		if p.ExitCode == 0 {
			t.span(service, "passing-probe", p.Start, p.End)
			return
		}
	}
}
