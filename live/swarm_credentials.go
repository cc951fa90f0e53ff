package live

import (
	"fmt"

	"github.com/rekeyhq/rekey/config"
	"github.com/rekeyhq/rekey/provider"
	"github.com/rekeyhq/rekey/swarmio"
)

// SwarmServerTypes are the credential servers rekey drives on a swarm: those whose driver runs a client
// inside the server's container (provider.Exec), which a relay job reaches on any node.
var SwarmServerTypes = []string{config.ServerPostgres, config.ServerRedis, config.ServerMariaDB}

// NewSwarmCredentials builds the driver of every server a secret names, for a stack on a swarm: the
// same drivers as on Compose, reaching the server's service (<stack>_<service>) through a relay job on
// whatever node runs it (swarmio.Relay, from relayImage) instead of an exec on the local engine.
func NewSwarmCredentials(cfg *config.Config, values func(string) (string, bool), sw *swarmio.Swarm, stack, relayImage string) (*Credentials, error) {
	c := &Credentials{drivers: map[string]provider.Provider{}}
	for _, name := range cfg.ServerNames() {
		spec := cfg.Servers[name]
		if !serverUsed(cfg, name) {
			continue
		}
		if !swarmServer(spec.Type) {
			return nil, fmt.Errorf("server %s: %s servers are not supported on Swarm yet (postgres, redis and mariadb are)", name, spec.Type)
		}
		exec := swarmio.Relay{Swarm: sw, Service: stack + "_" + spec.Service, Image: relayImage}
		d, err := driver(name, spec, exec, values, nil)
		if err != nil {
			return nil, err
		}
		c.drivers[name] = d
	}
	return c, nil
}

func serverUsed(cfg *config.Config, server string) bool {
	for _, s := range cfg.Secrets {
		if s != nil && s.Server == server {
			return true
		}
	}
	return false
}

func swarmServer(typ string) bool {
	for _, t := range SwarmServerTypes {
		if t == typ {
			return true
		}
	}
	return false
}

var _ provider.Exec = swarmio.Relay{}
