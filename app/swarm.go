package app

import (
	"context"

	"github.com/rekeyhq/rekey/live"
	"github.com/rekeyhq/rekey/reconcile"
)

// useSwarm sets the Swarm runtime of a config naming a stack (swarm.stack) in the executor and wraps
// the observer so that it prunes unused secret objects; it checks first that the stack runs as its files
// say (live.SwarmStack.Preflight). The runtime's checks stay live.Checks: http and cmd checks need no
// container, and exec and logs checks are refused on Swarm. Close releases the Swarm client.
func (s *Session) useSwarm(ctx context.Context, obs *live.Observer, ex *reconcile.Executor) (reconcile.Observer, func(), error) {
	stack, err := s.swarmStack(ctx)
	if err != nil {
		return nil, nil, err
	}
	sw, files := stack.Swarm, stack.Files
	if err := stack.Preflight(ctx, s.Desired); err != nil {
		sw.Close()
		return nil, nil, err
	}
	if err := s.useSwarmServers(ctx, sw, ex); err != nil { // app/swarm_servers.go
		sw.Close()
		return nil, nil, err
	}
	var txn string
	newID := ex.NewID
	ex.NewID = func() string { txn = newID(); return txn }
	src := live.SwarmSources{Files: files, Stack: stack, FP: s.FP.Of, Txn: func() string { return txn }}
	ex.Reader, ex.Writer, ex.Roller, ex.Health = src, src, stack, stack
	if obs.Drift != nil { // heal re-rolls the services whose tasks run another value than the files say
		obs.Drift.Swarm = live.SwarmDrift{Stack: stack, FP: s.FP.Of}
	}
	return &live.SwarmObserver{Observer: obs, Stack: stack, Warn: s.Options.Warn}, func() { sw.Close() }, nil
}
