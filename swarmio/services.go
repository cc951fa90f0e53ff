package swarmio

import (
	"context"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
)

// Service is what rekey reads of a service before it changes it.
type Service struct {
	Name       string
	StartFirst bool              // its update config starts a new task before stopping the old one
	Targets    map[string]string // secret file target (as in /run/secrets/<target>) → object name
	Env        []string          // the container spec's environment, NAME=VALUE
	Version    uint64
}

// Service inspects a service by name.
func (s *Swarm) Service(ctx context.Context, name string) (Service, error) {
	svc, _, err := s.cli.ServiceInspectWithRaw(ctx, name, swarm.ServiceInspectOptions{})
	if err != nil {
		return Service{}, s.wrap("failed to inspect service "+name, err)
	}
	out := Service{Name: name, Targets: map[string]string{}, Version: svc.Version.Index}
	if uc := svc.Spec.UpdateConfig; uc != nil && uc.Order == swarm.UpdateOrderStartFirst {
		out.StartFirst = true
	}
	if cs := svc.Spec.TaskTemplate.ContainerSpec; cs != nil {
		out.Env = cs.Env
		for _, ref := range cs.Secrets {
			if ref.File != nil {
				out.Targets[ref.File.Name] = ref.SecretName
			}
		}
	}
	return out, nil
}

// PointSecrets moves the service's secret references whose file target is a key of to onto the object
// named by its value — same target path, uid, gid and mode — in one service update (the service's own
// update config: rekey's design requires start-first). It changes nothing, and returns false, when every
// reference already points there. A target the service does not mount is an error: the stack changed
// under rekey's feet.
func (s *Swarm) PointSecrets(ctx context.Context, service string, to map[string]string) (bool, error) {
	return s.UpdateService(ctx, service, Change{Secrets: to})
}

// TaskContainers lists the container IDs of the service's tasks that should be running.
func (s *Swarm) TaskContainers(ctx context.Context, service string) ([]string, error) {
	tasks, err := s.runningTasks(ctx, service)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, t := range tasks {
		if cs := t.Status.ContainerStatus; cs != nil && cs.ContainerID != "" {
			ids = append(ids, cs.ContainerID)
		}
	}
	return ids, nil
}

func (s *Swarm) runningTasks(ctx context.Context, service string) ([]swarm.Task, error) {
	f := filters.NewArgs(filters.Arg("service", service), filters.Arg("desired-state", "running"))
	tasks, err := s.cli.TaskList(ctx, swarm.TaskListOptions{Filters: f})
	if err != nil {
		return nil, s.wrap("failed to list the tasks of service "+service, err)
	}
	return tasks, nil
}

// pollInterval is how often WaitConverged looks at a service.
const pollInterval = 250 * time.Millisecond

// WaitConverged waits until the service's update is over and every task that should run runs the
// service's current secrets and is healthy (Swarm reports a task with a healthcheck running only once
// it is healthy; a task on this node is also checked through its container). A paused or rolled-back
// update fails at once, with Swarm's message.
func (s *Swarm) WaitConverged(ctx context.Context, service string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last string
	for {
		done, why, err := s.converged(ctx, service)
		if err != nil || done {
			return err
		}
		last = why
		select {
		case <-ctx.Done():
			return fmt.Errorf("service %s did not converge within %s: %s", service, timeout, last)
		case <-time.After(pollInterval):
		}
	}
}
