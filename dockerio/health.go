package dockerio

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
)

// WaitHealthy waits until every container of the service is ready:
//
//   - with a healthcheck: running and healthy;
//   - without one: running, not restarting, with a restart count that has not
//     changed for the stable window (~2s).
//
// It fails at once when the service has no containers, when a container has
// exited (or is dead), when one turned unhealthy (Docker reports unhealthy
// only after the healthcheck's retries), or when the engine restarted one
// (its restart count grew during the wait: a crash loop). Otherwise it fails
// after timeout. The error names the service, the container, its state, exit
// code, health status and the number of consecutive failing probes; never the
// probe output or logs, which may contain secrets.
func (e *Engine) WaitHealthy(ctx context.Context, project, service string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	type seen struct {
		restarts int
		since    time.Time // when the container was first seen running with this restart count
	}
	first := map[string]int{}   // restart count when the wait began (or the container first appeared)
	stable := map[string]seen{} // for containers without a healthcheck
	var last []string           // why the last poll was not ready

	began := time.Now()
	wake := e.wakeOn(ctx, filters.Arg("label", LabelProject+"="+project), filters.Arg("label", LabelService+"="+service))
	tick := time.NewTicker(e.poll)
	defer tick.Stop()
	for {
		list, err := e.list(ctx, project, service)
		if err != nil {
			if ctx.Err() != nil {
				return e.waitErr(ctx, service, timeout, last)
			}
			return fmt.Errorf("failed to wait for service %s: %w", service, err)
		}
		if len(list) == 0 {
			return fmt.Errorf("failed to wait for service %s: no containers in project %s", service, project)
		}
		last = last[:0]
		now := time.Now()
		for _, s := range list {
			insp, err := e.cli.ContainerInspect(ctx, s.ID)
			if err != nil {
				if ctx.Err() != nil {
					return e.waitErr(ctx, service, timeout, last)
				}
				if cerrdefs.IsNotFound(err) {
					last = append(last, fmt.Sprintf("container %s: removed", shortID(s.ID)))
					continue
				}
				return fmt.Errorf("failed to inspect container %s of service %s: %w", shortID(s.ID), service, e.safe(err))
			}
			d := describe(insp)
			st := insp.State
			if st == nil {
				last = append(last, d.String())
				continue
			}
			if _, ok := first[insp.ID]; !ok {
				first[insp.ID] = insp.RestartCount
			}
			if why := e.failed(ctx, insp, first[insp.ID], began); why != "" {
				return fmt.Errorf("service %s is not healthy: %s", service, why)
			}
			if !st.Running || st.Restarting || st.Paused {
				delete(stable, insp.ID)
				last = append(last, d.String())
				continue
			}
			if st.Health != nil {
				if st.Health.Status != container.Healthy {
					last = append(last, d.String())
				}
				continue
			}
			sn, ok := stable[insp.ID]
			if !ok || sn.restarts != insp.RestartCount {
				sn = seen{restarts: insp.RestartCount, since: now}
				stable[insp.ID] = sn
			}
			if now.Sub(sn.since) < e.stable {
				last = append(last, d.String()+" (not yet stable)")
			}
		}
		if len(last) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return e.waitErr(ctx, service, timeout, last)
		case <-tick.C:
		case <-wake:
		}
	}
}

// failed says why a container being waited on will not become ready — it exited (or is dead), turned
// unhealthy (Docker says so only after the healthcheck's retries), or the engine restarted it since the
// wait began (a crash loop; its exit code then comes from the die events) — or "" while it still may.
// first is its restart count when the wait began. WaitHealthy and WaitReplicaHealthy share it.
func (e *Engine) failed(ctx context.Context, insp container.InspectResponse, first int, began time.Time) string {
	d, st := describe(insp), insp.State
	switch {
	case st == nil:
		return ""
	case st.Status == container.StateExited || st.Status == container.StateDead:
		return d.String()
	case st.Health != nil && st.Health.Status == container.Unhealthy:
		return d.String()
	case insp.RestartCount > first:
		d.exitCode = e.lastExitCode(ctx, insp.ID, began, d.exitCode)
		return fmt.Sprintf("%s (restarted by the engine %d times during the wait)", d, insp.RestartCount-first)
	}
	return ""
}

func (e *Engine) waitErr(ctx context.Context, service string, timeout time.Duration, last []string) error {
	why := "no container inspected yet"
	if len(last) > 0 {
		why = strings.Join(last, "; ")
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("service %s not healthy after %s: %s: %w", service, timeout, why, ctx.Err())
	}
	return fmt.Errorf("stopped waiting for service %s: %s: %w", service, why, ctx.Err())
}

// state is what an error may say about a container: nothing from its output.
type state struct {
	name          string
	status        string
	exitCode      int
	oomKilled     bool
	health        string
	failingProbes int
	restarts      int
}

func describe(insp container.InspectResponse) state {
	d := state{name: strings.TrimPrefix(insp.Name, "/"), restarts: insp.RestartCount}
	if d.name == "" {
		d.name = shortID(insp.ID)
	}
	if st := insp.State; st != nil {
		d.status = string(st.Status)
		d.exitCode = st.ExitCode
		d.oomKilled = st.OOMKilled
		if st.Health != nil {
			d.health = string(st.Health.Status)
			d.failingProbes = st.Health.FailingStreak
		}
	}
	return d
}

func (d state) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "container %s is %s", d.name, orUnknown(d.status))
	if d.status == string(container.StateExited) || d.status == string(container.StateDead) || d.exitCode != 0 {
		fmt.Fprintf(&b, " (exit code %d", d.exitCode)
		if d.oomKilled {
			b.WriteString(", oom-killed")
		}
		b.WriteString(")")
	}
	if d.health != "" {
		fmt.Fprintf(&b, ", health %s, %d failing probes", d.health, d.failingProbes)
	} else {
		b.WriteString(", no healthcheck")
	}
	if d.restarts > 0 {
		fmt.Fprintf(&b, ", restart count %d", d.restarts)
	}
	return b.String()
}

func orUnknown(s string) string {
	if s == "" {
		return "in an unknown state"
	}
	return s
}
