package app

import (
	"context"
	"errors"

	"github.com/rekeyhq/rekey/dockerio"
	"github.com/rekeyhq/rekey/live"
	"github.com/rekeyhq/rekey/reconcile"
	"github.com/rekeyhq/rekey/swarmio"
)

// swarmStack connects to the stack's swarm and describes what rekey manages of it: the file secrets its
// services mount and the variables of their env_files. The caller closes stack.Swarm.
func (s *Session) swarmStack(ctx context.Context) (*live.SwarmStack, error) {
	sw, err := swarmio.New(ctx, s.DockerHost(), s.Redact.String)
	if err != nil {
		return nil, Transient(err)
	}
	var paths []string
	var locs []reconcile.Location
	for _, sec := range s.Desired.Secrets {
		for _, l := range append(append([]reconcile.Location{}, sec.Current...), sec.Previous...) {
			paths, locs = append(paths, l.Path), append(locs, l)
		}
	}
	return &live.SwarmStack{Swarm: sw, Stack: s.Config.Swarm.Stack, StackFiles: s.Project.Files(),
		Files:   s.files(s.Options.Warn), // with the derived forms (app/forms.go): SwarmSources writes them too
		Secrets: live.SwarmSecretsOf(s.Project, paths), Env: live.SwarmEnvOf(s.Project, locs),
		HealthTimeout: s.Config.HealthTimeout.Duration}, nil
}

// scanSwarm makes a drift scan of a Swarm stack read its services' specs and tasks. A swarm that cannot
// be reached makes every consumer unknown, with the reason, rather than failing the scan of the sources
// and servers. The returned function releases the client.
func (s *Session) scanSwarm(ctx context.Context, sc *live.DriftScanner) func() {
	stack, err := s.swarmStack(ctx)
	if err != nil {
		sc.Swarm = swarmUnreachable{err}
		return func() {}
	}
	sc.Swarm = live.SwarmDrift{Stack: stack, FP: s.FP.Of}
	return func() { stack.Swarm.Close() }
}

// driftCredentials are the drivers a drift scan asks whether Git's value logs in. On Swarm they are
// apply's, through relay jobs on the servers' nodes (a server's task is no Compose container, which the
// local drivers look for), once the swarm could be read; sc.Swarm is set by scanSwarm.
func (s *Session) driftCredentials(eng *dockerio.Engine, sc *live.DriftScanner) (*live.Credentials, error) {
	if !s.Config.IsSwarm() {
		return live.NewCredentials(s.Config, s.Value, eng, s.Project.Name(), HostEnv(s.Options.Getenv))
	}
	d, ok := sc.Swarm.(live.SwarmDrift)
	if !ok {
		if u, ok := sc.Swarm.(swarmUnreachable); ok {
			return nil, u.err
		}
		return nil, errors.New("the swarm was not read")
	}
	return live.NewSwarmCredentials(s.Config, s.Value, d.Stack.Swarm, s.Config.Swarm.Stack, s.Config.Swarm.RelayImage)
}

// swarmUnreachable reports every consumer unknown, with why the swarm could not be read.
type swarmUnreachable struct{ err error }

func (u swarmUnreachable) Consumer(_ context.Context, _ reconcile.Secret, c reconcile.Consumer, _ string) ([]reconcile.LiveConsumer, error) {
	return []reconcile.LiveConsumer{{Consumer: c.Name, Err: u.err.Error()}}, nil
}

// swarmReasons says what a stale consumer means on Swarm: a task (or the service's spec) references
// another object or sets another value than the stack files and Git say — a service updated by hand, or
// a task still on an older spec — rather than a container started before its source changed.
func swarmReasons(ds []reconcile.Drift) {
	for i, d := range ds {
		if d.Place != reconcile.PlaceConsumer || d.State != reconcile.DriftStaleConsumer {
			continue
		}
		what := "task " + d.Container
		if d.Container == "spec" {
			what = "the service's spec"
		}
		ds[i].Reason = what + " runs another value than the stack files and Git say (a service update by hand, or a task of an older spec): rekey apply --heal or docker stack deploy puts it back"
	}
}
