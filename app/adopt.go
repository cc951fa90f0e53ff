package app

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

// Adopt converts a PostgreSQL server whose consumers log in as the owner role itself into the
// alternating layout, without downtime and without changing the password: the first login role gets the
// owner's password, the consumers move to it (its name written to login_env, then rolled in order,
// health-gated), and the owner loses LOGIN once no session uses it. Every step is safe to repeat: after an
// interruption, or when a session still logs in as the owner, run it again. say reports each step.
func Adopt(ctx context.Context, o Options, name string, say func(format string, args ...any)) error {
	s, err := LoadTrusted(ctx, o) // it changes the server and the sources: only for a trusted commit
	if err != nil {
		return err
	}
	sec, spec, err := adoptable(s, name)
	if err != nil {
		return err
	}
	eng, err := dockerio.New(ctx, dockerio.WithHost(s.DockerHost()), dockerio.WithRedactor(s.Redact.String))
	if err != nil {
		return err
	}
	defer eng.Close()
	a, err := s.adopter(eng, sec.Server.Name)
	if err != nil {
		return err
	}
	current, err := live.Files{Root: s.Project.Dir()}.ReadValue(ctx, sec.Current[0])
	if err != nil {
		return err
	}
	err = a.Adopt(ctx, current)
	switch {
	case err == nil:
		say("%s: the layout is complete, %s has no LOGIN: nothing to adopt", sec.Name, spec.User)
		return nil
	case !errors.Is(err, postgres.ErrAdoptPending):
		return s.Redact.Error(err)
	}
	login, err := a.AdoptLogin(ctx, current)
	if err != nil || login == "" {
		return fmt.Errorf("adopt staged no login role: %v", s.Redact.Error(err))
	}
	say("%s: %s logs in with the password %s has", sec.Name, login, spec.User)
	if err := s.moveConsumers(ctx, eng, sec, login, say); err != nil {
		return err
	}
	if err := a.Adopt(ctx, current); err != nil {
		if errors.Is(err, postgres.ErrAdoptPending) {
			return outcome(VerdictAttention, "%s (rerun rekey adopt)", s.Redact.Error(err).Error())
		}
		return s.Redact.Error(err)
	}
	say("%s: %s has no LOGIN any more; consumers log in as %s. The next rotation stages the other login role.", sec.Name, spec.User, login)
	return nil
}

func (s *Session) adopter(eng *dockerio.Engine, server string) (adopter, error) {
	creds, err := live.NewCredentials(s.Config, s.Value, eng, s.Project.Name(), HostEnv(s.Options.Getenv))
	if err != nil {
		return nil, err
	}
	d, err := creds.Driver(server)
	if err != nil {
		return nil, err
	}
	a, ok := d.(adopter)
	if !ok {
		return nil, fmt.Errorf("server %s cannot adopt", server)
	}
	return a, nil
}

// adoptable finds the secret and checks its server is a PostgreSQL one with alternating login roles.
func adoptable(s *Session, name string) (reconcile.Secret, *config.Server, error) {
	for _, sec := range s.Desired.Secrets {
		if sec.Name != name {
			continue
		}
		if sec.Server == nil {
			return sec, nil, fmt.Errorf("secret %s has no server: adopt converts a PostgreSQL login to alternating login roles", name)
		}
		spec := s.Config.Servers[sec.Server.Name]
		if spec.Type != config.ServerPostgres || spec.Single {
			return sec, nil, fmt.Errorf("secret %s: server %s is not a PostgreSQL server with alternating login roles", name, sec.Server.Name)
		}
		if len(sec.Logins) == 0 {
			return sec, nil, fmt.Errorf("secret %s: set login_env: adopt writes the new user name there", name)
		}
		return sec, spec, nil
	}
	return reconcile.Secret{}, nil, fmt.Errorf("no secret %q in %s (secrets: %v)", name, s.Config.File, s.Config.Names())
}

// moveConsumers writes login where the consumers read their user name and rolls them, in order,
// health-gated. The password does not change, so a consumer is fine before and after its roll.
func (s *Session) moveConsumers(ctx context.Context, eng *dockerio.Engine, sec reconcile.Secret, login string, say func(string, ...any)) error {
	files := live.Files{Root: s.Project.Dir()}
	for _, l := range sec.Logins {
		if v, err := files.ReadValue(ctx, l); err == nil && v == login {
			continue
		}
		if err := files.WriteValue(ctx, l, login); err != nil {
			return err
		}
		say("  wrote %s = %s", l, login)
	}
	stack := &live.Stack{Engine: eng, Compose: s.compose(), HealthTimeout: s.Config.HealthTimeout.Duration}
	for _, c := range sec.Consumers {
		if c.Action == reconcile.NoRoll {
			continue
		}
		start := time.Now()
		if err := stack.Roll(ctx, c); err != nil {
			return s.Redact.Error(err)
		}
		if err := stack.WaitHealthy(ctx, c.Name); err != nil {
			return s.Redact.Error(err)
		}
		say("  %s %s, healthy (%s)", c.Action, c.Name, time.Since(start).Round(10*time.Millisecond))
	}
	return nil
}
