package live

import (
	"context"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/rekeyhq/rekey/composeio"
	"github.com/rekeyhq/rekey/envfile"
	"github.com/rekeyhq/rekey/reconcile"
	"github.com/rekeyhq/rekey/swarmio"
)

// Environment-variable secrets on Swarm. `docker stack deploy` does not read the project's `.env`; a
// service's environment comes from its `env_file:` files (read by the Docker CLI, raw) and its
// `environment:` (literals, or `${VAR}` from the deploying process's environment). rekey's source for a
// variable is therefore an env_file the consuming services name: rekey writes the value there (mode
// 0600, never in the stack file, which is often committed in plain text), and a roll sets the variable
// in the service spec's Env to what `docker stack deploy` would read from that file, so that a later
// deploy of the same files finds the spec it would have written.

// SwarmEnv is a variable of the stack that rekey rotates.
type SwarmEnv struct {
	Var string
	// Files maps a compose service to the env_file (absolute) whose assignment of Var it gets: the last
	// of its env_files assigning Var, as docker stack deploy reads them in order.
	Files map[string]string
}

// SwarmEnvOf finds, in the stack's compose project, the services whose env_files are the locations of
// a variable.
func SwarmEnvOf(p *composeio.Project, locs []reconcile.Location) []SwarmEnv {
	byVar := map[string][]string{}
	for _, l := range locs {
		if l.Key != "" && l.Form == "" && !slices.Contains(byVar[l.Key], l.Path) {
			byVar[l.Key] = append(byVar[l.Key], l.Path)
		}
	}
	tp := p.Types()
	var out []SwarmEnv
	for _, v := range slices.Sorted(maps.Keys(byVar)) {
		e := SwarmEnv{Var: v, Files: map[string]string{}}
		for name, svc := range tp.Services {
			for _, f := range svc.EnvFiles {
				abs := f.Path
				if !path.IsAbs(abs) {
					abs = path.Join(p.Dir(), abs)
				}
				if slices.Contains(byVar[v], path.Clean(abs)) {
					e.Files[name] = path.Clean(abs)
				}
			}
		}
		out = append(out, e)
	}
	return out
}

// envAt is the managed variable whose value at path some service gets.
func (s *SwarmStack) envAt(l reconcile.Location) (SwarmEnv, bool) {
	for _, e := range s.Env {
		if e.Var == l.Key && slices.Contains(slices.Collect(maps.Values(e.Files)), l.Path) {
			return e, true
		}
	}
	return SwarmEnv{}, false
}

// envFor returns the variables a service's spec must set, with the values docker stack deploy would read
// from their env_files now.
func (s *SwarmStack) envFor(ctx context.Context, consumer string) (map[string]string, error) {
	out := map[string]string{}
	for _, e := range s.Env {
		file, ok := e.Files[consumer]
		if !ok {
			continue
		}
		v, err := s.deployedValue(ctx, file, e.Var)
		if err != nil {
			return nil, err
		}
		out[e.Var] = v
	}
	return out, nil
}

// deployedValue is the value of a variable in an env_file as docker stack deploy reads it.
func (s *SwarmStack) deployedValue(ctx context.Context, file, name string) (string, error) {
	data, _, err := s.Files.ReadFile(ctx, file)
	if err != nil {
		return "", err
	}
	v, line, err := swarmio.DockerEnvValue(data, name)
	if err != nil {
		return "", fmt.Errorf("%s: %w", file, err)
	}
	if line == 0 {
		return "", fmt.Errorf("%s does not assign %s", file, name)
	}
	return v, nil
}

// writeEnv writes a variable's value in its env_file. Only a value both readers agree on is written: a
// bare one (no whitespace, quote, #, $ or backslash), which compose and the Docker CLI read the same.
func (s SwarmSources) writeEnv(ctx context.Context, l reconcile.Location, value string) error {
	if _, ok := s.Stack.envAt(l); !ok {
		return fmt.Errorf("%s is not in an env_file: the services of stack %s name: docker stack deploy would not read it", l, s.Stack.Stack)
	}
	if value == "" || envfile.Quote(value) != value {
		return fmt.Errorf("%s: the new value holds whitespace, a quote, #, $ or a backslash, which docker stack deploy reads from an env_file otherwise than compose does: on Swarm use a value without them (rekey's generated values have none)", l)
	}
	if err := s.Files.WriteValue(ctx, l, value); err != nil {
		return err
	}
	if got, err := s.Stack.deployedValue(ctx, l.Path, l.Key); err != nil || got != value {
		return fmt.Errorf("%s: docker stack deploy would not read back the value written (%v): write the line as %s=value, unquoted", l, err, l.Key)
	}
	return nil
}

// preflightEnv checks a variable location: an env_file the consuming services name, whose line docker
// stack deploy reads as compose does, and every such service set the variable and update start-first.
func (s *SwarmStack) preflightEnv(ctx context.Context, l reconcile.Location) error {
	e, ok := s.envAt(l)
	if !ok {
		return fmt.Errorf("%s is not an env_file: of the stack's services: docker stack deploy does not read .env; assign %s in an env_file the consuming services name", l, l.Key)
	}
	data, _, err := s.Files.ReadFile(ctx, l.Path)
	if err != nil {
		return err
	}
	docker, line, err := swarmio.DockerEnvValue(data, l.Key)
	if err != nil {
		return fmt.Errorf("%s: %w", l.Path, err)
	}
	compose, err := s.Files.ReadValue(ctx, l)
	if err != nil {
		return err
	}
	if docker != compose {
		return fmt.Errorf("%s line %d: docker stack deploy reads %s raw (quotes, a comment after the value and $ are part of it), compose reads it otherwise: write %s=value unquoted, alone on its line", l.Path, line, l.Key, l.Key)
	}
	for _, svc := range slices.Sorted(maps.Keys(e.Files)) {
		if e.Files[svc] != l.Path {
			continue
		}
		live, err := s.Swarm.Service(ctx, s.Service(svc))
		if err != nil {
			return err
		}
		if _, set := swarmio.EnvValue(live.Env, l.Key); !set {
			return fmt.Errorf("service %s does not set %s in its environment: deploy the stack from these files first (docker stack deploy)", s.Service(svc), l.Key)
		}
		if !live.StartFirst {
			return fmt.Errorf("service %s updates stop-first: set deploy.update_config.order: start-first for %s in the stack files, so that a rotation keeps it serving", s.Service(svc), svc)
		}
	}
	return nil
}

// preflightEnvConsumers refuses a consumer that gets a variable otherwise than from an env_file: a
// `${VAR}` in the stack file is taken from docker stack deploy's process environment, which rekey does
// not write.
func preflightEnvConsumers(sec reconcile.Secret) error {
	for _, c := range sec.Consumers {
		if c.Action == reconcile.NoRoll {
			continue
		}
		for _, via := range c.Via {
			if !strings.HasPrefix(via, composeio.KindEnvFile+":") {
				return fmt.Errorf("service %s reads the variable through %s: docker stack deploy takes ${VAR} from its own process environment, which rekey does not write; on Swarm read it from an env_file", c.Name, via)
			}
		}
	}
	return nil
}
