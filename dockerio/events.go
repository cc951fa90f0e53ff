package dockerio

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
)

// ContainerEvents calls f with the service name of every container of the project that starts or dies,
// until ctx ends or the event stream fails (the error is returned; the caller reconnects).
func (e *Engine) ContainerEvents(ctx context.Context, project string, f func(service, action string)) error {
	args := filters.NewArgs(
		filters.Arg("type", string(events.ContainerEventType)),
		filters.Arg("label", LabelProject+"="+project),
		filters.Arg("event", string(events.ActionStart)),
		filters.Arg("event", string(events.ActionDie)),
	)
	msgs, errs := e.cli.Events(ctx, events.ListOptions{Filters: args})
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-msgs:
			f(m.Actor.Attributes[LabelService], string(m.Action))
		case err := <-errs:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("failed to read engine events: %w", e.safe(err))
		}
	}
}
