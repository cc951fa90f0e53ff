package dockerio

import (
	"context"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
)

// wakeOn returns a channel that receives when the engine reports a change of state of the containers
// sel selects (health status, start, die, restart, oom): a wait inspects again at once instead of at its
// next poll, so that a container that turns healthy is seen within milliseconds, not up to a poll
// interval later. Call it before the first inspect, so that no change falls between the two. The stream
// ends with ctx; if it fails, the channel stays silent and the wait's polling alone goes on.
func (e *Engine) wakeOn(ctx context.Context, sel ...filters.KeyValuePair) <-chan struct{} {
	args := filters.NewArgs(append(sel,
		filters.Arg("type", string(events.ContainerEventType)),
		filters.Arg("event", "health_status"), // matched as a prefix: "health_status: healthy"
		filters.Arg("event", string(events.ActionStart)),
		filters.Arg("event", string(events.ActionDie)),
		filters.Arg("event", string(events.ActionRestart)),
		filters.Arg("event", string(events.ActionOOM)),
	)...)
	wake := make(chan struct{}, 1)
	msgs, errs := e.cli.Events(ctx, events.ListOptions{Filters: args})
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-errs:
				return
			case <-msgs:
				select {
				case wake <- struct{}{}:
				default: // one pending wake-up is enough: the next inspect sees every change
				}
			}
		}
	}()
	return wake
}
