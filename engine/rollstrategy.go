package engine

import (
	"fmt"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/rekeyhq/rekey/composeio"
	"github.com/rekeyhq/rekey/config"
	"github.com/rekeyhq/rekey/internal/images"
	"github.com/rekeyhq/rekey/reconcile"
)

// Strategy is how one compose service is recreated, and why: shown by plan, reported by apply, and
// followed by the runtime (live.Stack).
type Strategy struct {
	Roll reconcile.RollStrategy
	Why  string
}

// Strategies decides the roll strategy of every service of the project: the one declared under
// services.<name>.strategy, else start-first unless two containers of the service cannot run side by
// side. A declared start-first that cannot work (a published host port, container_name, the server
// rekey rotates) is refused with the config's line: it would fail half-way through a rotation.
func Strategies(c *config.Config, p *composeio.Project) (map[string]Strategy, error) {
	servers := serverServices(c)
	out := map[string]Strategy{}
	for _, name := range p.Services() {
		svc := p.Types().Services[name]
		blocker := coexistBlocker(svc, servers[name])
		switch c.RollStrategy(name) {
		case config.RollStopFirst:
			out[name] = Strategy{reconcile.StopFirst, "declared in " + c.File}
		case config.RollStartFirst:
			if hard := hardBlocker(svc, servers[name]); hard != "" {
				return nil, configError(c, "services."+name+".strategy",
					"service %s: strategy start-first is impossible: %s", name, hard)
			}
			out[name] = Strategy{reconcile.StartFirst, "declared in " + c.File}
		default:
			if blocker != "" {
				out[name] = Strategy{reconcile.StopFirst, blocker}
			} else {
				out[name] = Strategy{reconcile.StartFirst, "no published port, container_name or exclusive volume"}
			}
		}
	}
	for _, name := range declaredServices(c) {
		if !p.HasService(name) {
			return nil, configError(c, "services."+name, "services: unknown service %q in compose project %s (services: %v)",
				name, p.Name(), p.Services())
		}
	}
	return out, nil
}

// coexistBlocker says why two containers of svc cannot run side by side, "" when they can.
func coexistBlocker(svc types.ServiceConfig, server string) string {
	if hard := hardBlocker(svc, server); hard != "" {
		return hard
	}
	if fam := images.Family(svc.Image); fam != "" {
		if v := writableVolume(svc); v != "" {
			return fmt.Sprintf("a %s image with %s mounted read-write: two servers must not share its data", fam, v)
		}
		return fmt.Sprintf("a %s image: a second server would not share the first one's data", fam)
	}
	if len(svc.VolumesFrom) > 0 || strings.HasPrefix(svc.NetworkMode, "service:") || strings.HasPrefix(svc.NetworkMode, "container:") {
		return "shares another container's volumes or network namespace"
	}
	return ""
}

// hardBlocker is what makes a second container fail outright, or corrupt a server rekey rotates.
func hardBlocker(svc types.ServiceConfig, server string) string {
	switch {
	case server != "":
		return "runs the credential server " + server + ", which rekey rotates"
	case svc.ContainerName != "":
		return "container_name " + svc.ContainerName + " is set: two containers cannot share it"
	case svc.NetworkMode == "host":
		return "network_mode: host: a second container would bind the same ports"
	}
	for _, port := range svc.Ports {
		if port.Published != "" {
			return fmt.Sprintf("publishes host port %s: a second container could not bind it", port.Published)
		}
	}
	return ""
}

// writableVolume names the first volume or bind mount svc mounts read-write, "" when none.
func writableVolume(svc types.ServiceConfig) string {
	for _, v := range svc.Volumes {
		if v.ReadOnly || v.Type == types.VolumeTypeTmpfs {
			continue
		}
		if v.Source == "" {
			return "an anonymous volume at " + v.Target
		}
		return "volume " + v.Source
	}
	return ""
}

// serverServices maps each compose service running a credential server to the server's name.
func serverServices(c *config.Config) map[string]string {
	out := map[string]string{}
	for name, s := range c.Servers {
		if s != nil && s.Service != "" {
			out[s.Service] = name
		}
	}
	return out
}

func declaredServices(c *config.Config) []string {
	names := make([]string, 0, len(c.Services))
	for name := range c.Services {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// setStrategies annotates the secret's recreated consumers with their strategy. A swap stops every
// consumer before the credential changes, so its consumers start again stop-first.
func setStrategies(s *reconcile.Secret, all map[string]Strategy) {
	for i := range s.Consumers {
		c := &s.Consumers[i]
		if c.Action != reconcile.Recreate {
			continue
		}
		st, ok := all[c.Name]
		if !ok {
			continue
		}
		if s.Swap && st.Roll == reconcile.StartFirst {
			st = Strategy{reconcile.StopFirst, "swap: consumers are stopped while the server switches"}
		}
		c.Strategy, c.Why = st.Roll, st.Why
	}
}
