package live

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/rekeyhq/rekey/composeio"
	"github.com/rekeyhq/rekey/reconcile"
	"github.com/rekeyhq/rekey/swarmio"
)

// Swarm is the runtime of a Docker Swarm stack (reconcile.Runtime), deployed with `docker stack deploy`
// from the same compose files a Compose project would use.
//
// Sources stay files on the manager: a secret's value is its `file:` (what `docker stack deploy` reads),
// and the stack file's literal `secrets.<key>.name:` says which immutable secret object holds it. Writing
// a value (SwarmSources) creates the object <stack>_<key>_<fingerprint> and moves that `name:`, so that
// restoring the file (a rollback, a recovery) moves it back to the old object, which still exists. Rolling
// a consumer (SwarmStack) points its service's reference at the object the stack file names — same
// target — in one service update with the service's start-first update config; the health gate waits
// for Swarm to converge. Objects no service and no stack file use any more are removed by the observer
// (SwarmObserver) once no transaction of their secret is open, so an old object goes only after every
// consumer verified the new one.
type Swarm struct {
	SwarmSources
	*SwarmStack
	*Checks
}

var (
	_ reconcile.Runtime         = Swarm{}
	_ reconcile.ContainerLister = Swarm{}
	_ reconcile.FileWriter      = SwarmSources{}
	_ reconcile.FileReader      = SwarmSources{}
)

// SwarmSecret is one compose secret of the stack that rekey rotates.
type SwarmSecret struct {
	Key    string            // its key under the stack files' top-level secrets:
	File   string            // absolute path of its file: (a reconcile.Location with no Key)
	Mounts map[string]string // compose service → file target under /run/secrets
}

// SwarmStack rolls the services of one stack and waits for them.
type SwarmStack struct {
	Swarm         *swarmio.Swarm
	Stack         string   // the name given to docker stack deploy
	StackFiles    []string // absolute, in override order: the last one naming a secret's object wins
	Secrets       []SwarmSecret
	Env           []SwarmEnv // the managed variables (swarm_env.go)
	Files         Files      // reads the stack files (no symlink below the project directory)
	HealthTimeout time.Duration
}

// Service is the Swarm service name of a compose service of the stack.
func (s *SwarmStack) Service(consumer string) string { return s.Stack + "_" + consumer }

// Roll points the consumer's references to every managed secret at the object its stack file names now,
// and sets every managed variable to its env_file's value, in one service update.
func (s *SwarmStack) Roll(ctx context.Context, c reconcile.Consumer) error {
	if c.Action == reconcile.NoRoll {
		return nil
	}
	to := map[string]string{}
	for _, sec := range s.Secrets {
		target, ok := sec.Mounts[c.Name]
		if !ok {
			continue
		}
		name, _, err := s.pointer(ctx, sec.Key)
		if err != nil {
			return err
		}
		to[target] = name
	}
	env, err := s.envFor(ctx, c.Name)
	if err != nil {
		return err
	}
	if len(to) == 0 && len(env) == 0 {
		return fmt.Errorf("service %s mounts none of the secrets rekey rotates on stack %s", c.Name, s.Stack)
	}
	ctx, cancel := context.WithTimeout(ctx, rollTimeout)
	defer cancel()
	_, err = s.Swarm.UpdateService(ctx, s.Service(c.Name), swarmio.Change{Secrets: to, Env: env})
	return err
}

// WaitHealthy waits until the service's update converged: every task runs the new spec, healthy.
func (s *SwarmStack) WaitHealthy(ctx context.Context, consumer string) error {
	return s.Swarm.WaitConverged(ctx, s.Service(consumer), orDefault(s.HealthTimeout, time.Minute))
}

// Containers lists the short IDs of the service's task containers, for the journal.
func (s *SwarmStack) Containers(ctx context.Context, consumer string) ([]string, error) {
	ids, err := s.Swarm.TaskContainers(ctx, s.Service(consumer))
	for i, id := range ids {
		ids[i] = id[:min(12, len(id))]
	}
	return ids, err
}

// pointer returns the object name a secret's stack file names, and that file.
func (s *SwarmStack) pointer(ctx context.Context, key string) (name, file string, err error) {
	for _, f := range slices.Backward(s.StackFiles) {
		data, _, err := s.Files.ReadFile(ctx, f)
		if err != nil {
			return "", "", err
		}
		name, err := swarmio.SecretName(data, key)
		if errors.Is(err, swarmio.ErrNoName) {
			continue
		}
		if err != nil {
			return "", "", fmt.Errorf("%s: %w", f, err)
		}
		return name, f, nil
	}
	return "", "", fmt.Errorf("secret %s of stack %s has no literal name: in %s: add `name: %s_%s_v1` under secrets.%s (rekey moves it to each new version's object)",
		key, s.Stack, strings.Join(s.StackFiles, ", "), s.Stack, key, key)
}

// secretAt is the managed secret whose file is path.
func (s *SwarmStack) secretAt(path string) (SwarmSecret, bool) {
	for _, sec := range s.Secrets {
		if sec.File == path {
			return sec, true
		}
	}
	return SwarmSecret{}, false
}

// SwarmSecretsOf finds, in the stack's compose project, the file secrets at the given paths and the
// services mounting them with their targets.
func SwarmSecretsOf(p *composeio.Project, files []string) []SwarmSecret {
	tp := p.Types()
	var out []SwarmSecret
	for key, sc := range tp.Secrets {
		if bool(sc.External) || sc.File == "" {
			continue
		}
		abs := sc.File
		if !path.IsAbs(abs) {
			abs = path.Join(p.Dir(), abs)
		}
		if !slices.Contains(files, path.Clean(abs)) {
			continue
		}
		sec := SwarmSecret{Key: key, File: path.Clean(abs), Mounts: map[string]string{}}
		for name, svc := range tp.Services {
			for _, ref := range svc.Secrets {
				if ref.Source == key {
					sec.Mounts[name] = cmpOr(ref.Target, key)
				}
			}
		}
		out = append(out, sec)
	}
	slices.SortFunc(out, func(a, b SwarmSecret) int { return strings.Compare(a.Key, b.Key) })
	return out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
