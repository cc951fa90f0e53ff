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

// traceTimeline splits the time from `compose up` to healthy as the engine saw it: created → started,
// started → the first health probe (the healthcheck's interval: Docker probes only after it), and the
// probe that passed. Only when tracing; an engine that cannot tell is skipped.
func (r startFirst) traceTimeline(ctx context.Context, service, id string) {
	tl, ok := r.engine.(timeliner)
	if r.trace == nil || !ok {
		return
	}
	t, err := tl.Timeline(ctx, id)
	if err != nil {
		return
	}
	r.trace.span(service, "create→start", t.Created, t.Started)
	if len(t.Probes) == 0 {
		return
	}
	first, last := t.Probes[0], t.Probes[len(t.Probes)-1]
	r.trace.span(service, "start→first-probe", t.Started, first.Start)
	r.trace.span(service, "passing-probe", last.Start, last.End)
}
