package dockerio

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
)

// Compose labels a start-first roll reads.
const (
	LabelConfigHash = "com.docker.compose.config-hash"
	LabelNumber     = "com.docker.compose.container-number"
)

// Replica is one container of a compose service as a start-first roll sees it.
type Replica struct {
	ID         string
	Name       string
	Number     int    // com.docker.compose.container-number
	ConfigHash string // com.docker.compose.config-hash: the configuration it was created from
	Running    bool
}

// Replicas lists the containers of a compose service in every state, by container number.
func (e *Engine) Replicas(ctx context.Context, project, service string) ([]Replica, error) {
	list, err := e.list(ctx, project, service)
	if err != nil {
		return nil, err
	}
	out := make([]Replica, 0, len(list))
	for _, s := range list {
		n, _ := strconv.Atoi(s.Labels[LabelNumber])
		r := Replica{ID: s.ID, Number: n, ConfigHash: s.Labels[LabelConfigHash], Running: s.State == container.StateRunning}
		if len(s.Names) > 0 {
			r.Name = strings.TrimPrefix(s.Names[0], "/")
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out, nil
}

// WaitReplicaHealthy waits until one container is ready: running and healthy with a healthcheck, running
// and not restarted for the stable window without one. It fails at once when the container exited, turned
// unhealthy or was restarted by the engine, else after timeout. Errors name the container and its state,
// never its output.
func (e *Engine) WaitReplicaHealthy(ctx context.Context, id string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	wake := e.wakeOn(ctx, filters.Arg("container", id))
	tick := time.NewTicker(e.poll)
	defer tick.Stop()
	first, since, began := -1, time.Time{}, time.Now()
	for {
		insp, err := e.cli.ContainerInspect(ctx, id)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("container %s not healthy after %s: %w", shortID(id), timeout, ctx.Err())
			}
			return fmt.Errorf("failed to inspect container %s: %w", shortID(id), e.safe(err))
		}
		d, st := describe(insp), insp.State
		if first < 0 {
			first = insp.RestartCount
		}
		if why := e.failed(ctx, insp, first, began); why != "" {
			return errors.New(why)
		}
		switch {
		case st == nil:
		case !st.Running || st.Restarting || st.Paused:
			since = time.Time{}
		case st.Health != nil:
			if st.Health.Status == container.Healthy {
				return nil
			}
		case since.IsZero():
			since = time.Now()
		case time.Since(since) >= e.stable:
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("container not healthy after %s: %s: %w", timeout, d, ctx.Err())
		case <-tick.C:
		case <-wake:
		}
	}
}

// Remove removes a container, stopping it first if it still runs (force), with its anonymous volumes:
// a start-first roll removes the container it replaced, or the new one it gave up on.
func (e *Engine) Remove(ctx context.Context, id string) error {
	err := e.cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("failed to remove container %s: %w", shortID(id), e.safe(err))
	}
	return nil
}

// ErrNoHash is returned by [Compose.ConfigHash] when compose printed no hash for the service.
var ErrNoHash = errors.New("compose printed no config hash")
