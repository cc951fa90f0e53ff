package live

import (
	"context"
	"errors"
	"fmt"

	"github.com/rekeyhq/rekey/reconcile"
	"github.com/rekeyhq/rekey/swarmio"
)

// Preflight checks, before anything changes, that every secret of d is one the Swarm runtime rotates
// today (a file secret the stack mounts — its plain value or a derived form —, a variable of an env_file
// its services name, a credential server reached by relay jobs that does not read the secret itself,
// checks that do not need a compose container) and that every consumer service runs as the stack files
// say, with start-first updates.
// Each problem is one line naming the secret and what to change.
func (s *SwarmStack) Preflight(ctx context.Context, d reconcile.Desired) error {
	var errs []error
	for _, sec := range d.Secrets {
		if err := s.preflightSecret(ctx, sec); err != nil {
			errs = append(errs, fmt.Errorf("secret %s: %w", sec.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (s *SwarmStack) preflightSecret(ctx context.Context, sec reconcile.Secret) error {
	switch {
	case sec.Server != nil && sec.Server.Service != "":
		return fmt.Errorf("server %s reads the secret itself (it is rolled after the revoke): not supported on Swarm yet", sec.Server.Name)
	case len(sec.Logins) > 0:
		return errors.New("login_env is an environment variable: on Swarm put the login in a derived file (e.g. a database URL) instead")
	case sec.Swap:
		return errors.New("the swap strategy is not supported on Swarm yet")
	}
	for _, c := range sec.Checks {
		if err := swarmCheck(c); err != nil {
			return err
		}
	}
	for _, l := range append(append([]reconcile.Location{}, sec.Current...), sec.Previous...) {
		if l.Key != "" {
			if l.Form != "" {
				return fmt.Errorf("%s is a derived variable: on Swarm rekey rotates derived forms in files only (not in env_files yet)", l)
			}
			if err := s.preflightEnv(ctx, l); err != nil {
				return err
			}
			if err := preflightEnvConsumers(sec); err != nil {
				return err
			}
			continue
		}
		ms, ok := s.secretAt(l.Path)
		if !ok {
			return fmt.Errorf("%s is not the file: of a secret the stack's services mount: on Swarm rekey rotates only such secrets and variables of env_files", l)
		}
		if err := s.preflightMounts(ctx, ms); err != nil {
			return err
		}
		if !swarmio.ValidSecretName(ObjectName(s.Stack, ms.Key, "hmac:0123456789ab")) {
			return fmt.Errorf("the object name %s would exceed Swarm's 64 characters: shorten the stack name or the secret's key", ObjectName(s.Stack, ms.Key, "hmac:0123456789ab"))
		}
	}
	for _, c := range sec.Consumers {
		for _, ch := range c.Checks {
			if err := swarmCheck(ch); err != nil {
				return err
			}
		}
	}
	return nil
}

// preflightMounts checks every service mounting a managed secret: deployed from these files (it uses
// the object the stack file names) and updated start-first.
func (s *SwarmStack) preflightMounts(ctx context.Context, ms SwarmSecret) error {
	cur, _, err := s.pointer(ctx, ms.Key)
	if err != nil {
		return err
	}
	for svc, target := range ms.Mounts {
		live, err := s.Swarm.Service(ctx, s.Service(svc))
		if err != nil {
			return err
		}
		if got := live.Targets[target]; got != cur && !(s.isVersion(ctx, ms, got) && s.isVersion(ctx, ms, cur)) {
			return fmt.Errorf("service %s mounts %q at /run/secrets/%s, the stack files name %q: deploy the stack from these files first (docker stack deploy)", s.Service(svc), got, target, cur)
		}
		if !live.StartFirst {
			return fmt.Errorf("service %s updates stop-first: set deploy.update_config.order: start-first for %s in the stack files, so that a rotation keeps it serving", s.Service(svc), svc)
		}
	}
	return nil
}

// isVersion tells whether an object is a version of the secret rekey knows (labelled by it): an
// interrupted rotation leaves services on a version other than the one the stack file names — both
// rekey's — and its recovery must be allowed to run; a name rekey did not write is refused.
func (s *SwarmStack) isVersion(ctx context.Context, ms SwarmSecret, name string) bool {
	obj, found, err := s.Swarm.SecretByName(ctx, name)
	return err == nil && found && obj.Labels[swarmio.LabelSecret] == s.id(ms)
}

// swarmCheck refuses the checks that look for a compose project's containers.
func swarmCheck(c reconcile.Check) error {
	if c.Kind == reconcile.CheckExec || c.Kind == reconcile.CheckLogs {
		return fmt.Errorf("%s checks are not supported on Swarm yet (use http or cmd)", c.Kind)
	}
	return nil
}
