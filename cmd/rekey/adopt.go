package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rekeyhq/rekey/config"
	"github.com/rekeyhq/rekey/dockerio"
	"github.com/rekeyhq/rekey/live"
	"github.com/rekeyhq/rekey/provider/postgres"
	"github.com/rekeyhq/rekey/reconcile"
)

// adopter is what adopt needs of a driver: the PostgreSQL one.
type adopter interface {
	Adopt(ctx context.Context, current string) error
	AdoptLogin(ctx context.Context, current string) (string, error)
}

// cmdAdopt converts a PostgreSQL server whose consumers log in as the owner role itself into the
// alternating layout, without downtime and without changing the password: the first login role gets the
// owner's password, the consumers move to it (its name written to login_env, then rolled in order,
// health-gated), and the owner loses LOGIN once no session uses it. Every step is safe to repeat: after an
// interruption, or when a session still logs in as the owner, run it again.
func cmdAdopt(ctx context.Context, args []string, e env) error {
	var o options
	fs := newFlagSet("adopt", e.stderr, &o)
	pos, err := o.parseArgs(fs, args, 1)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("adopt takes exactly one secret name")
	}
	s, err := load(ctx, &o, e)
	if err != nil {
		return err
	}
	sec, spec, err := adoptable(s, pos[0])
	if err != nil {
		return err
	}
	eng, err := dockerio.New(ctx, dockerio.WithHost(s.dockerHost()), dockerio.WithRedactor(s.redact.String))
	if err != nil {
		return err
	}
	defer eng.Close()
	creds, err := live.NewCredentials(s.cfg, s.value, eng, s.project.Name(), hostEnv(s.e.getenv))
	if err != nil {
		return err
	}
	d, err := creds.Driver(sec.Server.Name)
	if err != nil {
		return err
	}
	a, ok := d.(adopter)
	if !ok {
		return fmt.Errorf("server %s cannot adopt", sec.Server.Name)
	}
	say := func(format string, args ...any) { fmt.Fprintf(e.stdout, format+"\n", args...) }
	current, err := live.Files{}.ReadValue(ctx, sec.Current[0])
	if err != nil {
		return err
	}
	err = a.Adopt(ctx, current)
	switch {
	case err == nil:
		say("%s: the layout is complete, %s has no LOGIN: nothing to adopt", sec.Name, spec.User)
		return nil
	case !errors.Is(err, postgres.ErrAdoptPending):
		return s.redact.Error(err)
	}
	login, err := a.AdoptLogin(ctx, current)
	if err != nil || login == "" {
		return fmt.Errorf("adopt staged no login role: %v", s.redact.Error(err))
	}
	say("%s: %s logs in with the password %s has", sec.Name, login, spec.User)
	if err := moveConsumers(ctx, s, eng, sec, login, say); err != nil {
		return err
	}
	if err := a.Adopt(ctx, current); err != nil {
		if errors.Is(err, postgres.ErrAdoptPending) {
			return &codeError{code: exitAttention, msg: s.redact.Error(err).Error() + " (rerun rekey adopt)"}
		}
		return s.redact.Error(err)
	}
	say("%s: %s has no LOGIN any more; consumers log in as %s. The next rotation stages the other login role.", sec.Name, spec.User, login)
	return nil
}

// adoptable finds the secret and checks its server is a PostgreSQL one with alternating login roles.
func adoptable(s *session, name string) (reconcile.Secret, *config.Server, error) {
	for _, sec := range s.desired.Secrets {
		if sec.Name != name {
			continue
		}
		if sec.Server == nil {
			return sec, nil, fmt.Errorf("secret %s has no server: adopt converts a PostgreSQL login to alternating login roles", name)
		}
		spec := s.cfg.Servers[sec.Server.Name]
		if spec.Type != config.ServerPostgres || spec.Single {
			return sec, nil, fmt.Errorf("secret %s: server %s is not a PostgreSQL server with alternating login roles", name, sec.Server.Name)
		}
		if len(sec.Logins) == 0 {
			return sec, nil, fmt.Errorf("secret %s: set login_env: adopt writes the new user name there", name)
		}
		return sec, spec, nil
	}
	return reconcile.Secret{}, nil, fmt.Errorf("no secret %q in %s (secrets: %v)", name, s.cfg.File, s.cfg.Names())
}

// moveConsumers writes login where the consumers read their user name and rolls them, in order,
// health-gated. The password does not change, so a consumer is fine before and after its roll.
func moveConsumers(ctx context.Context, s *session, eng *dockerio.Engine, sec reconcile.Secret, login string, say func(string, ...any)) error {
	var files live.Files
	for _, l := range sec.Logins {
		if v, err := files.ReadValue(ctx, l); err == nil && v == login {
			continue
		}
		if err := files.WriteValue(ctx, l, login); err != nil {
			return err
		}
		say("  wrote %s = %s", l, login)
	}
	compose := dockerio.Compose{Command: s.cfg.Compose.Command, Dir: s.project.Dir(), Project: s.project.Name(),
		Files: s.project.Files(), Env: dockerio.ChildEnv(s.e.getenv, s.dockerHost()), Redact: s.redact.String}
	stack := &live.Stack{Engine: eng, Compose: compose, HealthTimeout: s.cfg.HealthTimeout.Duration}
	for _, c := range sec.Consumers {
		if c.Action == reconcile.NoRoll {
			continue
		}
		start := time.Now()
		if err := stack.Roll(ctx, c); err != nil {
			return s.redact.Error(err)
		}
		if err := stack.WaitHealthy(ctx, c.Name); err != nil {
			return s.redact.Error(err)
		}
		say("  %s %s, healthy (%s)", c.Action, c.Name, time.Since(start).Round(10*time.Millisecond))
	}
	return nil
}
