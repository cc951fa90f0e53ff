package config

import (
	"regexp"
)

// Swarm names the Docker Swarm stack the secrets belong to. When set, rekey rotates through the stack's
// services — deployed with `docker stack deploy` from compose.files in compose.project_dir — instead of a
// Compose project on one host (docs/swarm.md).
type Swarm struct {
	// Stack is the name given to docker stack deploy: services are <stack>_<service>.
	Stack string `yaml:"stack"`
	// RelayImage is the rekey image a credential server's commands run from, as a one-off job on the
	// server's node (docs/swarm.md#credential-servers-on-any-node); it must be present on that node.
	RelayImage string `yaml:"relay_image"`
}

// IsSwarm tells whether the config names a Swarm stack.
func (c *Config) IsSwarm() bool { return c.Swarm.Stack != "" }

// stackName is what rekey accepts as a stack name: short enough that <stack>_<secret>_<12 hex> fits
// Swarm's 64 characters for common secret names.
var stackName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,29}$`)

// validateSwarm refuses what the Swarm runtime does not do yet, at parse time, naming the line.
func (c *Config) validateSwarm(p *problems) {
	if c.Line("swarm") == 0 && !c.IsSwarm() {
		return
	}
	if !stackName.MatchString(c.Swarm.Stack) {
		p.add("swarm.stack", "swarm.stack must be the stack's name as given to docker stack deploy (lower-case letters, digits, _ and -, at most 30), got %q", c.Swarm.Stack)
		return
	}
	for _, name := range c.Names() {
		s := c.Secrets[name]
		switch {
		case s.Server != "":
			c.validateSwarmServer(p, name, s.Server)
		case s.Strategy == "swap":
			p.add("secrets."+name+".strategy", "secret %s: the swap strategy is not supported on Swarm yet", name)
		case len(s.Consumers) > 0:
			p.add("secrets."+name+".consumers", "secret %s: declared consumers are not supported on Swarm yet: the consumers are the stack's services mounting the secret", name)
		}
	}
}
