package live

import (
	"fmt"

	"github.com/rekeyhq/rekey/config"
	"github.com/rekeyhq/rekey/dockerio"
	"github.com/rekeyhq/rekey/provider"
	"github.com/rekeyhq/rekey/provider/command"
	"github.com/rekeyhq/rekey/provider/httpapi"
	"github.com/rekeyhq/rekey/provider/mariadb"
	"github.com/rekeyhq/rekey/provider/postgres"
	"github.com/rekeyhq/rekey/provider/redis"
	"github.com/rekeyhq/rekey/provider/smtp"
	"github.com/rekeyhq/rekey/reconcile"
)

// Credentials finds the driver of each configured credential server for the executor
// (reconcile.Credentials); drivers reach their server by exec in its compose service container.
type Credentials struct {
	drivers map[string]provider.Provider
}

// NewCredentials builds a driver for every server in the config. values holds the admin passwords;
// hostEnv is the whole environment of host commands (exec servers without a service).
func NewCredentials(cfg *config.Config, values func(string) (string, bool), eng *dockerio.Engine, project string, hostEnv []string) (*Credentials, error) {
	c := &Credentials{drivers: map[string]provider.Provider{}}
	used := map[string]bool{}
	for _, s := range cfg.Secrets {
		if s != nil && s.Server != "" {
			used[s.Server] = true
		}
	}
	for _, name := range cfg.ServerNames() {
		if !used[name] {
			continue // a server no secret names: nothing to drive, nothing to fail on
		}
		spec := cfg.Servers[name]
		exec := provider.Service{Engine: eng, Project: project, Name: spec.Service}
		d, err := driver(name, spec, exec, values, hostEnv)
		if err != nil {
			return nil, err
		}
		c.drivers[name] = d
	}
	return c, nil
}

func driver(name string, spec *config.Server, exec provider.Exec, values func(string) (string, bool), hostEnv []string) (provider.Provider, error) {
	switch spec.Type {
	case config.ServerRedis:
		opts := []redis.Option{redis.WithUser(spec.RotatedUser())}
		if spec.Port != 0 {
			opts = append(opts, redis.WithPort(spec.Port))
		}
		if a := spec.Admin; a != nil {
			pw, ok := values(a.Password)
			if !ok || pw == "" {
				return nil, fmt.Errorf("server %s: the admin password %s is missing from the values file", name, a.Password)
			}
			opts = append(opts, redis.WithAdmin(redis.Login{User: a.User, Password: pw}))
		}
		return redis.New(name, exec, opts...), nil
	case config.ServerPostgres:
		return postgresDriver(name, spec, exec), nil
	case config.ServerMariaDB:
		opts := []mariadb.Option{mariadb.WithUser(spec.User), mariadb.WithTerminate(spec.Terminate)}
		if spec.Chain {
			opts = append(opts, mariadb.WithChain())
		} else {
			r := spec.LoginRoles()
			opts = append(opts, mariadb.WithLogins(r[0], r[1]))
		}
		if spec.Host != "" {
			opts = append(opts, mariadb.WithHost(spec.Host))
		}
		if spec.Port != 0 {
			opts = append(opts, mariadb.WithPort(spec.Port))
		}
		if spec.Admin != nil && spec.Admin.User != "" {
			opts = append(opts, mariadb.WithAdminUser(spec.Admin.User))
		}
		if spec.DrainTimeout.Duration > 0 {
			opts = append(opts, mariadb.WithDrainTimeout(spec.DrainTimeout.Duration))
		}
		return mariadb.New(name, exec, opts...), nil
	case config.ServerExec:
		var run provider.Exec = provider.Host{Env: hostEnv}
		if spec.Service != "" {
			run = exec
		}
		c := spec.Commands
		return command.New(name, run, command.Commands{Check: c.Check, Stage: c.Stage, Verify: c.Verify,
			Drain: c.Drain, Revoke: c.Revoke, Unstage: c.Unstage, Probe: c.Probe})
	case config.ServerHTTP:
		return httpapi.New(name, httpapi.Request{Method: spec.Method, URL: spec.URL, Header: spec.Header,
			Expect: spec.Expect, Rejected: spec.Rejected}, nil)
	case config.ServerSMTP:
		opts := []smtp.Option{smtp.WithAddr(spec.Addr), smtp.WithUser(spec.User)}
		if spec.TLS != "" {
			opts = append(opts, smtp.WithTLS(smtp.TLSMode(spec.TLS)))
		}
		if spec.CAFile != "" {
			opts = append(opts, smtp.WithCAFile(spec.CAFile))
		}
		if spec.ServerName != "" {
			opts = append(opts, smtp.WithServerName(spec.ServerName))
		}
		return smtp.New(name, opts...), nil
	}
	return nil, fmt.Errorf("server %s: no driver for type %q", name, spec.Type)
}

// postgresDriver builds the PostgreSQL driver: a single login role, or alternating ones.
func postgresDriver(name string, spec *config.Server, exec provider.Exec) provider.Provider {
	var opts []postgres.Option
	if spec.Database != "" {
		opts = append(opts, postgres.WithDatabase(spec.Database))
	}
	if spec.Port != 0 {
		opts = append(opts, postgres.WithPort(spec.Port))
	}
	if spec.Admin != nil && spec.Admin.User != "" {
		opts = append(opts, postgres.WithAdminUser(spec.Admin.User))
	}
	if spec.Single {
		return postgres.NewSingle(name, exec, spec.User, opts...)
	}
	r := spec.LoginRoles()
	opts = append(opts, postgres.WithOwner(spec.User), postgres.WithLogins(r[0], r[1]), postgres.WithTerminate(spec.Terminate))
	if spec.DrainTimeout.Duration > 0 {
		opts = append(opts, postgres.WithDrainTimeout(spec.DrainTimeout.Duration))
	}
	return postgres.New(name, exec, opts...)
}

// Server implements reconcile.Credentials: the driver of a configured server, which is itself the
// rotation's reconcile.Credential.
func (c *Credentials) Server(name string) (reconcile.Credential, error) { return c.driver(name) }

// Driver returns the driver of a server (for commands beyond the rotation, such as adopt).
func (c *Credentials) Driver(server string) (provider.Provider, error) { return c.driver(server) }

func (c *Credentials) driver(server string) (provider.Provider, error) {
	d, ok := c.drivers[server]
	if !ok {
		return nil, fmt.Errorf("no server %q in the config", server)
	}
	return d, nil
}

// Every driver is a reconcile.Credential as it is; the optional seams are asserted where drivers have them.
var (
	_ reconcile.Credentials = (*Credentials)(nil)
	_ provider.Provider     = (*redis.Redis)(nil)
	_ reconcile.Prober      = (*redis.Redis)(nil) // the executor heals a server that restarted mid-rotation
	_ provider.Provider     = (*mariadb.MariaDB)(nil)
	_ reconcile.Prober      = (*mariadb.MariaDB)(nil)
	_ provider.Provider     = (*postgres.Postgres)(nil)
	_ reconcile.Prober      = (*postgres.Postgres)(nil)
	_ provider.Provider     = (*postgres.Single)(nil)
	_ reconcile.Swapper     = (*postgres.Single)(nil)
	_ reconcile.Prober      = (*postgres.Single)(nil) // init and drift read its stored verifier: the image trusts logins from inside it
	_ provider.Provider     = (*command.Command)(nil)
	_ reconcile.Swapper     = (*command.Command)(nil)
	_ reconcile.Prober      = (*command.Command)(nil)
	_ provider.Provider     = (*httpapi.API)(nil)
	_ reconcile.Prober      = (*httpapi.API)(nil)
	_ provider.Provider     = (*smtp.SMTP)(nil)
	_ reconcile.Prober      = (*smtp.SMTP)(nil)
)
