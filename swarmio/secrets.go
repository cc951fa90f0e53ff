package swarmio

import (
	"context"
	"fmt"
	"maps"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
)

// Secret is a secret object as rekey sees it: never its data, which Swarm does not return.
type Secret struct {
	ID     string
	Name   string
	Labels map[string]string
}

// EnsureSecret creates the object name holding data with labels, unless an object of that name exists:
// names carry a fingerprint of the data, so an existing one holds the same value (a resumed or repeated
// write). The value travels only in the create request.
func (s *Swarm) EnsureSecret(ctx context.Context, name string, data []byte, labels map[string]string) (Secret, error) {
	if sec, found, err := s.SecretByName(ctx, name); err != nil || found {
		return sec, err
	}
	spec := swarm.SecretSpec{Annotations: swarm.Annotations{Name: name, Labels: labels}, Data: data}
	resp, err := s.cli.SecretCreate(ctx, spec)
	if err != nil {
		return Secret{}, s.wrap("failed to create the secret object "+name, err)
	}
	return Secret{ID: resp.ID, Name: name, Labels: maps.Clone(labels)}, nil
}

// SecretByName finds an object by its exact name.
func (s *Swarm) SecretByName(ctx context.Context, name string) (Secret, bool, error) {
	sec, _, err := s.cli.SecretInspectWithRaw(ctx, name)
	if cerrdefs.IsNotFound(err) {
		return Secret{}, false, nil
	}
	if err != nil {
		return Secret{}, false, s.wrap("failed to inspect the secret object "+name, err)
	}
	if sec.Spec.Name != name { // inspect also matches an ID or an ID prefix
		return Secret{}, false, nil
	}
	return Secret{ID: sec.ID, Name: sec.Spec.Name, Labels: sec.Spec.Labels}, true, nil
}

// SecretsLabelled lists the objects carrying every label of want.
func (s *Swarm) SecretsLabelled(ctx context.Context, want map[string]string) ([]Secret, error) {
	f := filters.NewArgs()
	for k, v := range want {
		f.Add("label", k+"="+v)
	}
	list, err := s.cli.SecretList(ctx, swarm.SecretListOptions{Filters: f})
	if err != nil {
		return nil, s.wrap("failed to list secret objects", err)
	}
	out := make([]Secret, 0, len(list))
	for _, sec := range list {
		out = append(out, Secret{ID: sec.ID, Name: sec.Spec.Name, Labels: sec.Spec.Labels})
	}
	return out, nil
}

// AddLabels adds labels to an object, keeping the others (labels are the only part of a secret object
// Swarm lets change).
func (s *Swarm) AddLabels(ctx context.Context, name string, add map[string]string) error {
	sec, _, err := s.cli.SecretInspectWithRaw(ctx, name)
	if err != nil {
		return s.wrap("failed to inspect the secret object "+name, err)
	}
	spec := sec.Spec
	spec.Data = nil // unchanged: Swarm refuses any other data, and never returned it
	if spec.Labels == nil {
		spec.Labels = map[string]string{}
	}
	changed := false
	for k, v := range add {
		if spec.Labels[k] != v {
			spec.Labels[k], changed = v, true
		}
	}
	if !changed {
		return nil
	}
	return s.wrap("failed to label the secret object "+name, s.cli.SecretUpdate(ctx, sec.ID, sec.Version, spec))
}

// RemoveSecret removes an object; one already gone is not an error.
func (s *Swarm) RemoveSecret(ctx context.Context, sec Secret) error {
	err := s.cli.SecretRemove(ctx, sec.ID)
	if err == nil || cerrdefs.IsNotFound(err) {
		return nil
	}
	return s.wrap(fmt.Sprintf("failed to remove the secret object %s", sec.Name), err)
}

// SecretsInUse returns the IDs of the objects any service's current spec references: Swarm refuses to
// remove those, and rekey never tries.
func (s *Swarm) SecretsInUse(ctx context.Context) (map[string]bool, error) {
	svcs, err := s.cli.ServiceList(ctx, swarm.ServiceListOptions{})
	if err != nil {
		return nil, s.wrap("failed to list services", err)
	}
	used := map[string]bool{}
	for _, svc := range svcs {
		if cs := svc.Spec.TaskTemplate.ContainerSpec; cs != nil {
			for _, ref := range cs.Secrets {
				used[ref.SecretID] = true
			}
		}
	}
	return used, nil
}
