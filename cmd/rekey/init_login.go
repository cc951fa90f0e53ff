package main

import (
	"context"

	"github.com/rekeyhq/rekey/composeio"
	"github.com/rekeyhq/rekey/discover"
	"github.com/rekeyhq/rekey/dockerio"
	"github.com/rekeyhq/rekey/internal/redact"
)

// confirmLogins tries the read-only login to each proposed server with the value found (discover.ConfirmLogins),
// unless --no-login; a Docker engine it cannot reach leaves them not checked, and init goes on.
func confirmLogins(ctx context.Context, o *initOptions, p *composeio.Project, rep *discover.Report, values []string) {
	if len(rep.Servers) == 0 {
		return
	}
	if o.noLogin {
		discover.NotChecked(rep, "--no-login")
		return
	}
	eng, err := dockerio.New(ctx, dockerio.WithHost(o.dockerHost), dockerio.WithRedactor(redact.New(values...).String))
	if err != nil {
		discover.NotChecked(rep, "Docker engine not reachable")
		return
	}
	defer eng.Close()
	discover.ConfirmLogins(ctx, rep, p.Services(), discover.Docker{Engine: eng, Project: p.Name()})
}
