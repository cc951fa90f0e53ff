package discover

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rekeyhq/rekey/config"
	"github.com/rekeyhq/rekey/dockerio"
	"github.com/rekeyhq/rekey/internal/redact"
	"github.com/rekeyhq/rekey/live"
	"github.com/rekeyhq/rekey/provider"
)

// LoginTimeout bounds one confirmation login.
const LoginTimeout = 20 * time.Second

// Stack is what the login confirmation needs of the running stack: whether a service runs, and a login
// to a server with a value (Docker in `rekey init`, a fake in unit tests).
type Stack interface {
	Running(ctx context.Context, service string) (bool, error)
	Login(ctx context.Context, name string, login config.Server, value string) (bool, error)
}

// ConfirmLogins tries, for each proposed server, one read-only login with the value init found, through
// the driver's verify/probe path that drift uses (live.Login): "confirmed by login", "not confirmed
// (reason)", or "not checked (reason)" when the stack or the server's service is not running. Each
// server is asked once, one after the other; no value is ever in a reason.
func ConfirmLogins(ctx context.Context, rep *Report, services []string, st Stack) {
	if len(rep.Servers) == 0 {
		return
	}
	red := redact.New(rep.valueList()...)
	running := map[string]bool{}
	anyRunning := false
	for _, svc := range services {
		ok, err := st.Running(ctx, svc)
		if err != nil {
			NotChecked(rep, "cannot list the stack's containers: "+red.String(firstLine(err.Error())))
			return
		}
		running[svc], anyRunning = ok, anyRunning || ok
	}
	if !anyRunning {
		NotChecked(rep, "stack not running")
		return
	}
	for _, sp := range rep.Servers {
		if !running[sp.Service] {
			sp.LoginCheck = fmt.Sprintf("%s (service %s not running)", loginNotChecked, sp.Service)
			continue
		}
		value := rep.valueOf(sp.Secret)
		lctx, cancel := context.WithTimeout(ctx, LoginTimeout)
		ok, err := st.Login(lctx, sp.Name, sp.loginSpec(), value)
		cancel()
		sp.LoginCheck = verdict(ok, err, red)
	}
}

// NotChecked marks every proposed server's login as not checked, and why.
func NotChecked(rep *Report, why string) {
	for _, sp := range rep.Servers {
		sp.LoginCheck = fmt.Sprintf("%s (%s)", loginNotChecked, why)
	}
}

func verdict(ok bool, err error, red *redact.Redactor) string {
	switch {
	case err != nil && errors.Is(err, provider.ErrUnreachable):
		return fmt.Sprintf("%s (server unreachable: %s)", loginNotChecked, reason(err, red))
	case err != nil:
		return fmt.Sprintf("%s (%s)", loginNotConfirmed, reason(err, red))
	case !ok:
		return loginNotConfirmed + " (the server refused the value)"
	}
	return LoginConfirmed
}

// reason is an error's first line, values removed, kept short for the report.
func reason(err error, red *redact.Redactor) string {
	r := red.String(firstLine(err.Error()))
	if len(r) > 300 {
		r = r[:300] + "…"
	}
	return r
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// loginSpec is the server as the consumers log in to it today: for postgres, the role they use now
// (shop_a, or the owner before adopt) with its one password, so the login asks nothing of a layout that
// may not exist yet; the others as proposed.
func (sp *ServerProposal) loginSpec() config.Server {
	spec := *sp.spec
	if spec.Type == config.ServerPostgres {
		spec = config.Server{Type: config.ServerPostgres, Service: sp.Service, User: sp.Login, Single: true,
			Database: orName(sp.spec.Database, sp.spec.User), Admin: sp.spec.Admin}
	}
	return spec
}

func (r *Report) valueOf(secret string) string {
	for _, s := range r.Secrets {
		if s.Name == secret {
			return s.value
		}
	}
	return ""
}

func (r *Report) valueList() []string {
	var out []string
	for _, s := range r.Secrets {
		out = append(out, s.value)
	}
	return out
}

// Docker is the running stack as Docker shows it: the first running container of a service, and the
// server drivers reaching it by exec, as rotations and drift do.
type Docker struct {
	Engine  *dockerio.Engine
	Project string
}

// Running implements Stack.
func (d Docker) Running(ctx context.Context, service string) (bool, error) {
	cs, err := d.Engine.Containers(ctx, d.Project, service)
	if err != nil {
		return false, err
	}
	for _, c := range cs {
		if c.Running {
			return true, nil
		}
	}
	return false, nil
}

// Login implements Stack through the driver drift uses.
func (d Docker) Login(ctx context.Context, name string, login config.Server, value string) (bool, error) {
	cfg := &config.Config{Servers: map[string]*config.Server{name: &login},
		Secrets: map[string]*config.Secret{"login": {Type: config.TypeToken, Server: name}}}
	creds, err := live.NewCredentials(cfg, func(string) (string, bool) { return "", false }, d.Engine, d.Project, nil)
	if err != nil {
		return false, err
	}
	cr, err := creds.Server(name)
	if err != nil {
		return false, err
	}
	return live.Login(ctx, cr, value)
}
