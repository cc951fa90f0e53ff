package dockerio

import (
	"context"
	"fmt"
	"time"
)

// Timeline is when the engine created and started a container and ran its health probes: what a trace
// of a roll shows of the time between `compose up` and healthy. No probe output.
type Timeline struct {
	Created, Started time.Time
	Probes           []Probe // the engine keeps the last five
}

// Probe is one run of a container's healthcheck.
type Probe struct {
	Start, End time.Time
	ExitCode   int
}

// Timeline reads a container's timeline from the engine.
func (e *Engine) Timeline(ctx context.Context, id string) (Timeline, error) {
	insp, err := e.cli.ContainerInspect(ctx, id)
	if err != nil {
		return Timeline{}, fmt.Errorf("failed to inspect container %s: %w", shortID(id), e.safe(err))
	}
	var t Timeline
	t.Created, _ = time.Parse(time.RFC3339Nano, insp.Created)
	if st := insp.State; st != nil {
		t.Started, _ = time.Parse(time.RFC3339Nano, st.StartedAt)
		if st.Health != nil {
			for _, p := range st.Health.Log {
				if p != nil {
					t.Probes = append(t.Probes, Probe{Start: p.Start, End: p.End, ExitCode: p.ExitCode})
				}
			}
		}
	}
	return t, nil
}
