package swarmio

import (
	"context"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/swarm"
)

// Running is what a service's spec or one of its tasks runs, as rekey's drift scan reads it: the objects
// its secret files come from and its environment.
type Running struct {
	Task    string            // the task's ID; "" for the service's spec
	Created time.Time         // when the task was created
	Secrets map[string]string // secret file target (as in /run/secrets/<target>) → object ID
	Env     []string          // NAME=VALUE
}

// RunningSpecs returns what the service's current spec says and what each task that should run runs
// (a task keeps the spec it was created from until it is replaced).
func (s *Swarm) RunningSpecs(ctx context.Context, service string) (spec Running, tasks []Running, err error) {
	svc, _, err := s.cli.ServiceInspectWithRaw(ctx, service, swarm.ServiceInspectOptions{})
	if err != nil {
		return Running{}, nil, s.wrap("failed to inspect service "+service, err)
	}
	ts, err := s.runningTasks(ctx, service)
	if err != nil {
		return Running{}, nil, err
	}
	spec = runningOf(svc.Spec.TaskTemplate.ContainerSpec)
	for _, t := range ts {
		r := runningOf(t.Spec.ContainerSpec)
		r.Task, r.Created = t.ID, t.CreatedAt
		tasks = append(tasks, r)
	}
	return spec, tasks, nil
}

func runningOf(cs *swarm.ContainerSpec) Running {
	r := Running{Secrets: map[string]string{}}
	if cs == nil {
		return r
	}
	r.Env = cs.Env
	for _, ref := range cs.Secrets {
		if ref.File != nil {
			r.Secrets[ref.File.Name] = ref.SecretID
		}
	}
	return r
}

// SecretByID finds an object by its ID; found is false when it is gone.
func (s *Swarm) SecretByID(ctx context.Context, id string) (Secret, bool, error) {
	sec, _, err := s.cli.SecretInspectWithRaw(ctx, id)
	if cerrdefs.IsNotFound(err) {
		return Secret{}, false, nil
	}
	if err != nil {
		return Secret{}, false, s.wrap("failed to inspect the secret object "+id, err)
	}
	if sec.ID != id {
		return Secret{}, false, nil
	}
	return Secret{ID: sec.ID, Name: sec.Spec.Name, Labels: sec.Spec.Labels}, true, nil
}
