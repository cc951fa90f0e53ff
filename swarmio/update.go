package swarmio

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/docker/docker/api/types/swarm"
)

// Change is what one service update moves: secret references and environment variables.
type Change struct {
	// Secrets maps a secret file target (as in /run/secrets/<target>) to the object it must reference.
	Secrets map[string]string
	// Env maps a variable of the container spec to its new value. The value travels only in the update
	// request; no error names it.
	Env map[string]string
}

// UpdateService applies c to the service in one service update (the service's own update config: rekey's
// design requires start-first): each secret reference keeps its target path, uid, gid and mode and points
// at another object; each variable keeps its place in the spec's Env (docker stack deploy sorts it by
// name, and a value does not change the order) and takes its new value. It changes nothing, and returns
// false, when the service already runs c. A target the service does not mount or a variable its spec does
// not set is an error: the stack changed under rekey's feet.
func (s *Swarm) UpdateService(ctx context.Context, service string, c Change) (bool, error) {
	svc, _, err := s.cli.ServiceInspectWithRaw(ctx, service, swarm.ServiceInspectOptions{})
	if err != nil {
		return false, s.wrap("failed to inspect service "+service, err)
	}
	spec := svc.Spec
	cs := spec.TaskTemplate.ContainerSpec
	if cs == nil {
		return false, fmt.Errorf("service %s has no container spec", service)
	}
	refs, movedRefs, err := s.pointRefs(ctx, service, cs.Secrets, c.Secrets)
	if err != nil {
		return false, err
	}
	env, movedEnv, err := setEnv(service, cs.Env, c.Env)
	if err != nil {
		return false, err
	}
	if !movedRefs && !movedEnv {
		return false, nil
	}
	newCS := *cs
	newCS.Secrets, newCS.Env = refs, env
	spec.TaskTemplate.ContainerSpec = &newCS
	// No registry query: the image reference stays as the stack deployed it (no digest pinned), so a
	// later `docker stack deploy --resolve-image never` of the same files finds the same spec.
	resp, err := s.cli.ServiceUpdate(ctx, svc.ID, svc.Version, spec, swarm.ServiceUpdateOptions{QueryRegistry: false})
	if err != nil {
		return false, s.wrap("failed to update service "+service, err)
	}
	_ = resp.Warnings // the digest warning for local images; nothing rekey acts on
	return true, nil
}

// pointRefs returns refs with each target of to pointing at its object, and whether any moved.
func (s *Swarm) pointRefs(ctx context.Context, service string, refs []*swarm.SecretReference, to map[string]string) ([]*swarm.SecretReference, bool, error) {
	refs = slices.Clone(refs)
	changed := false
	for _, target := range slices.Sorted(maps.Keys(to)) {
		name := to[target]
		i := slices.IndexFunc(refs, func(r *swarm.SecretReference) bool { return r.File != nil && r.File.Name == target })
		if i < 0 {
			return nil, false, fmt.Errorf("service %s mounts no secret at /run/secrets/%s: deploy the stack first", service, target)
		}
		if refs[i].SecretName == name {
			continue
		}
		obj, found, err := s.SecretByName(ctx, name)
		if err != nil {
			return nil, false, err
		}
		if !found {
			return nil, false, fmt.Errorf("secret object %s for service %s is missing", name, service)
		}
		ref := *refs[i]
		ref.SecretID, ref.SecretName = obj.ID, obj.Name
		refs[i], changed = &ref, true
	}
	return refs, changed, nil
}

// setEnv returns env with each variable of to set in place, and whether any changed. A variable set
// twice in a spec is set at each place (the container sees the last).
func setEnv(service string, env []string, to map[string]string) ([]string, bool, error) {
	env = slices.Clone(env)
	changed := false
	for _, name := range slices.Sorted(maps.Keys(to)) {
		found := false
		for i, kv := range env {
			k, _, _ := strings.Cut(kv, "=")
			if k != name {
				continue
			}
			found = true
			if want := name + "=" + to[name]; kv != want {
				env[i], changed = want, true
			}
		}
		if !found {
			return nil, false, fmt.Errorf("service %s does not set %s in its environment: deploy the stack from these files first (docker stack deploy)", service, name)
		}
	}
	return env, changed, nil
}

// EnvValue is the value of a variable in a container spec's Env (the last assignment), and whether the
// spec sets it.
func EnvValue(env []string, name string) (string, bool) {
	value, found := "", false
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			value, found = v, true
		}
	}
	return value, found
}
