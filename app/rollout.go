package app

import (
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/rekeyhq/rekey/engine"
	"github.com/rekeyhq/rekey/live"
	"github.com/rekeyhq/rekey/reconcile"
)

// startFirst is the services the stack recreates start-first (engine.Strategies: the choice plan shows),
// with their drain step and the replicas compose's model asks for.
func (s *Session) startFirst() (map[string]live.StartFirst, error) {
	all, err := engine.Strategies(s.Config, s.Project)
	if err != nil {
		return nil, err
	}
	out := map[string]live.StartFirst{}
	for name, st := range all {
		if st.Roll != reconcile.StartFirst {
			continue
		}
		spec := live.StartFirst{Replicas: declaredReplicas(s.Project.Types().Services[name])}
		if d := s.Config.DrainOf(name); d != nil {
			spec.DrainExec, spec.DrainWait = d.Exec, d.Wait.Duration
		}
		out[name] = spec
	}
	return out, nil
}

// declaredReplicas is deploy.replicas or scale, 0 when the service declares neither.
func declaredReplicas(svc types.ServiceConfig) int {
	switch {
	case svc.Scale != nil:
		return *svc.Scale
	case svc.Deploy != nil && svc.Deploy.Replicas != nil:
		return *svc.Deploy.Replicas
	}
	return 0
}
