package app

import (
	"context"

	"github.com/rekeyhq/rekey/live"
	"github.com/rekeyhq/rekey/reconcile"
	"github.com/rekeyhq/rekey/swarmio"
)

// useSwarmServers gives the executor the drivers of the stack's credential servers, each reaching its
// server's service on whatever node runs it through relay jobs (swarmio.Relay) instead of a local exec.
func (s *Session) useSwarmServers(ctx context.Context, sw *swarmio.Swarm, ex *reconcile.Executor) error {
	if !s.hasServer() {
		return nil
	}
	sw.SweepRelays(ctx) // what a run killed in the middle of a relay left
	creds, err := live.NewSwarmCredentials(s.Config, s.Value, sw, s.Config.Swarm.Stack, s.Config.Swarm.RelayImage)
	if err != nil {
		return err
	}
	ex.Credentials = creds
	return nil
}

func (s *Session) hasServer() bool {
	for _, sec := range s.Config.Secrets {
		if sec != nil && sec.Server != "" {
			return true
		}
	}
	return false
}
