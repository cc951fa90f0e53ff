package app

import (
	"github.com/rekeyhq/rekey/live"
	"github.com/rekeyhq/rekey/reconcile"
	"github.com/rekeyhq/rekey/swarmio"
)

// useSwarmServers gives the executor the drivers of the stack's credential servers, each reaching its
// server's service on whatever node runs it through relay jobs (swarmio.Relay) instead of a local exec.
func (s *Session) useSwarmServers(sw *swarmio.Swarm, ex *reconcile.Executor) error {
	creds, err := live.NewSwarmCredentials(s.Config, s.Value, sw, s.Config.Swarm.Stack, s.Config.Swarm.RelayImage)
	if err != nil {
		return err
	}
	ex.Credentials = creds
	return nil
}
