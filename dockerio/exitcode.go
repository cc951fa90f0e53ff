package dockerio

import (
	"context"
	"strconv"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
)

// lastExitCode returns the exit code of the container's last death since
// began, read from the engine's "die" events. The state cannot tell it once
// the restart policy has started the container again (Docker resets the exit
// code to 0 when it runs), and a crash loop is usually caught at that moment.
// When the events cannot be read, fallback is returned.
func (e *Engine) lastExitCode(ctx context.Context, id string, began time.Time, fallback int) int {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	f := filters.NewArgs(filters.Arg("container", id), filters.Arg("event", "die"))
	msgs, errs := e.cli.Events(ctx, events.ListOptions{
		Since:   strconv.FormatInt(began.Add(-time.Second).Unix(), 10),
		Until:   strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10),
		Filters: f,
	})
	code := fallback
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				return code
			}
			if c, err := strconv.Atoi(m.Actor.Attributes["exitCode"]); err == nil {
				code = c
			}
		case <-errs:
			// The stream ends with io.EOF once Until has passed, or with
			// the context's error: either way the last code seen stands.
			return code
		}
	}
}
