package config

// validateSwarmServer checks a secret's credential server on Swarm: one whose driver runs a client in
// the server's container (reached on any node by a relay job from swarm.relay_image), not a swap.
func (c *Config) validateSwarmServer(p *problems, secret, server string) {
	srv := c.Servers[server]
	switch {
	case srv == nil:
		return // the server's own validation names the missing server
	case srv.Type != ServerPostgres && srv.Type != ServerRedis && srv.Type != ServerMariaDB:
		p.add("secrets."+secret+".server", "secret %s: %s servers are not supported on Swarm yet (postgres, redis and mariadb are)", secret, srv.Type)
	case c.Secrets[secret].Strategy == StrategySwap:
		p.add("secrets."+secret+".strategy", "secret %s: the swap strategy is not supported on Swarm yet", secret)
	case len(c.Secrets[secret].Consumers) > 0:
		p.add("secrets."+secret+".consumers", "secret %s: declared consumers are not supported on Swarm yet: the consumers are the stack's services mounting the secret", secret)
	case c.Swarm.RelayImage == "":
		p.add("swarm", "secret %s: server %s is reached on its node by a one-off job: set swarm.relay_image to a rekey image present on every node (scripts/package.sh builds one)", secret, server)
	}
}
