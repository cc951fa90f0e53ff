package config

import "sort"

// Roll strategies of a compose service (services.<name>.strategy).
const (
	// RollAuto lets rekey choose: start-first unless two containers of the service cannot coexist.
	RollAuto = "auto"
	// RollStartFirst starts the new container beside the old one and stops the old one once the new one
	// is healthy: no gap in service.
	RollStartFirst = "start-first"
	// RollStopFirst stops the old container before the new one starts (docker compose up's recreate).
	RollStopFirst = "stop-first"
)

// Service is how rekey rolls one compose service (services.<name> in rekey.yaml).
type Service struct {
	// Strategy is auto (the default), start-first or stop-first.
	Strategy string `yaml:"strategy"`
	// Drain is what happens between the new container turning healthy and the old one being stopped
	// (start-first only).
	Drain *Drain `yaml:"drain"`
}

// Drain takes the old container out of traffic before it stops: an exec command in it (tell the app to
// fail its health check, deregister it from a proxy), then a wait for the proxy to notice.
type Drain struct {
	Exec []string `yaml:"exec"`
	Wait Duration `yaml:"wait"`
}

// maxDrainWait bounds drain.wait: the old container keeps running (and the rotation waits) that long.
const maxDrainWait = 10 * 60 // seconds

// RollStrategy is the strategy declared for a service: auto when it has none.
func (c *Config) RollStrategy(service string) string {
	if s := c.Services[service]; s != nil && s.Strategy != "" {
		return s.Strategy
	}
	return RollAuto
}

// DrainOf is the drain step declared for a service, nil when none.
func (c *Config) DrainOf(service string) *Drain {
	if s := c.Services[service]; s != nil {
		return s.Drain
	}
	return nil
}

// validateServices checks services.<name>: a known strategy, a drain only where it can happen.
func (c *Config) validateServices(p *problems) {
	names := make([]string, 0, len(c.Services))
	for name := range c.Services {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		s, at := c.Services[name], "services."+name
		if s == nil {
			p.add(at, "service %s: empty entry (set strategy: start-first, stop-first or auto)", name)
			continue
		}
		switch s.Strategy {
		case "", RollAuto, RollStartFirst, RollStopFirst:
		default:
			p.add(at+".strategy", "service %s: unknown strategy %q (want auto, start-first or stop-first)", name, s.Strategy)
		}
		if s.Drain == nil {
			continue
		}
		if s.Strategy == RollStopFirst {
			p.add(at+".drain", "service %s: drain needs start-first or auto (a stop-first roll has no second container to drain to)", name)
		}
		if s.Drain.Exec != nil && len(s.Drain.Exec) == 0 {
			p.add(at+".drain.exec", "service %s: drain.exec needs a command", name)
		}
		if s.Drain.Wait.Duration.Seconds() > maxDrainWait {
			p.add(at+".drain.wait", "service %s: drain.wait %s is longer than %dm", name, s.Drain.Wait.Duration, maxDrainWait/60)
		}
	}
}
