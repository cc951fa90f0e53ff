package engine

import (
	"context"
	"github.com/rekeyhq/rekey/config"
	"slices"

	"github.com/rekeyhq/rekey/reconcile"
)

// addLogin adds the places holding the user name of a server whose logins take turns: written with the
// value, and their consumers roll with it.
func (b *secretBuilder) addLogin(ctx context.Context) error {
	v := b.spec.LoginEnv
	if v == "" {
		return nil
	}
	cur := b.out.Current
	if err := b.addVar(ctx, v, false); err != nil {
		return err
	}
	b.out.Logins = append(b.out.Logins, b.out.Current[len(cur):]...)
	b.out.Current = cur
	return nil
}

// addServer attaches the credential server. The server's own service, when it reads the secret, is
// taken out of the consumers: it rolls after the revoke (see reconcile.Server).
func (b *secretBuilder) addServer() error {
	name := b.spec.Server
	if name == "" {
		return nil
	}
	spec := b.in.Config.Servers[name]
	if spec.Service != "" && !b.in.Project.HasService(spec.Service) {
		return configError(b.in.Config, "servers."+name+".service", "server %s: unknown service %q in compose project %s (services: %v)",
			name, spec.Service, b.in.Project.Name(), b.in.Project.Services())
	}
	if a := spec.Admin; a != nil && a.Password != "" {
		if v, ok := b.in.Values[a.Password]; !ok || v == "" {
			return configError(b.in.Config, "servers."+name+".admin.password", "server %s: the admin password %s is missing from the values file %s: add it with `rekey values set %s`",
				name, a.Password, b.in.Config.Values, a.Password)
		}
	}
	srv := &reconcile.Server{Name: name, Mechanism: spec.Mechanism()}
	b.out.Consumers = slices.DeleteFunc(b.out.Consumers, func(c reconcile.Consumer) bool {
		if c.Name != spec.Service {
			return false
		}
		srv.Service, srv.Roll = c.Name, c.Action
		return true
	})
	b.out.Server = srv
	b.out.Swap = b.spec.Strategy == config.StrategySwap
	return nil
}
