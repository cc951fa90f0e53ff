package swarmio

import (
	"context"
	"fmt"
	"slices"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/swarm"
)

// converged tells whether the service's update is over and its tasks run its current secrets and
// environment, healthy; why says what is still awaited. A failed update is an error.
func (s *Swarm) converged(ctx context.Context, service string) (done bool, why string, err error) {
	svc, _, err := s.cli.ServiceInspectWithRaw(ctx, service, swarm.ServiceInspectOptions{})
	if err != nil {
		return false, "", s.wrap("failed to inspect service "+service, err)
	}
	if us := svc.UpdateStatus; us != nil {
		switch us.State {
		case swarm.UpdateStatePaused, swarm.UpdateStateRollbackStarted, swarm.UpdateStateRollbackPaused, swarm.UpdateStateRollbackCompleted:
			return false, "", fmt.Errorf("the update of service %s failed (%s): %s", service, us.State, s.redact(us.Message))
		case swarm.UpdateStateUpdating:
			return false, "update in progress", nil
		}
	}
	tasks, err := s.runningTasks(ctx, service)
	if err != nil {
		return false, "", err
	}
	want, wantEnv := secretIDs(svc.Spec.TaskTemplate.ContainerSpec), envOf(svc.Spec.TaskTemplate.ContainerSpec)
	if m := svc.Spec.Mode.Replicated; m != nil && m.Replicas != nil && uint64(len(tasks)) != *m.Replicas {
		return false, fmt.Sprintf("%d of %d tasks scheduled", len(tasks), *m.Replicas), nil
	}
	for _, t := range tasks {
		if t.Status.State != swarm.TaskStateRunning {
			return false, fmt.Sprintf("task %s is %s", short(t.ID), t.Status.State), nil
		}
		if !slices.Equal(secretIDs(t.Spec.ContainerSpec), want) || !slices.Equal(envOf(t.Spec.ContainerSpec), wantEnv) {
			return false, fmt.Sprintf("task %s runs an older spec", short(t.ID)), nil
		}
		if ok, state := s.localHealthy(ctx, t); !ok {
			return false, fmt.Sprintf("task %s is %s", short(t.ID), state), nil
		}
	}
	return true, "", nil
}

// localHealthy checks the health of a task's container when it runs on this node; a task elsewhere
// counts as healthy once Swarm reports it running.
func (s *Swarm) localHealthy(ctx context.Context, t swarm.Task) (bool, string) {
	cs := t.Status.ContainerStatus
	if cs == nil || cs.ContainerID == "" {
		return true, ""
	}
	c, err := s.cli.ContainerInspect(ctx, cs.ContainerID)
	switch {
	case cerrdefs.IsNotFound(err):
		return true, "" // another node's container: Swarm's "running" is all there is
	case err != nil:
		return false, "inspect failed: " + s.wrap("inspect", err).Error() // not known to be healthy
	case c.State == nil || c.State.Health == nil:
		return true, "" // no healthcheck
	}
	return c.State.Health.Status == "healthy", "health " + c.State.Health.Status
}

// secretIDs lists the objects a container spec references, sorted.
func secretIDs(cs *swarm.ContainerSpec) []string {
	if cs == nil {
		return nil
	}
	ids := make([]string, 0, len(cs.Secrets))
	for _, r := range cs.Secrets {
		ids = append(ids, r.SecretID)
	}
	slices.Sort(ids)
	return ids
}

// envOf is a container spec's environment (a task keeps the one of the spec it was created from).
func envOf(cs *swarm.ContainerSpec) []string {
	if cs == nil {
		return nil
	}
	return cs.Env
}

func short(id string) string { return id[:min(12, len(id))] }
