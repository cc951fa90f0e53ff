package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rekeyhq/rekey/composeio"
	"github.com/rekeyhq/rekey/config"
	"github.com/rekeyhq/rekey/internal/derive"
	"github.com/rekeyhq/rekey/reconcile"
)

// Forms compiles the template of every derived location of cfg. A template that does not parse, calls
// a function forms do not have, names a secret that is not declared or reads .login of a secret without
// a server is reported with the template's line.
// The set holds the forms of every secret whose templates compile, even when another's do not (the
// agent isolates an invalid secret and goes on with the others).
func Forms(cfg *config.Config) (derive.Set, error) {
	set := derive.Set{}
	var errs []error
	for _, name := range cfg.Names() {
		if err := secretForms(cfg, name, set); err != nil {
			errs = append(errs, err)
		}
	}
	return set, errors.Join(errs...)
}

// secretForms compiles the derived locations of one secret into set.
func secretForms(cfg *config.Config, name string, set derive.Set) error {
	declared := func(n string) bool { return cfg.Secrets[n] != nil }
	spec := cfg.Secrets[name]
	for i, d := range spec.Derived {
		at := fmt.Sprintf("secrets.%s.derived.%d.template", name, i)
		f, err := derive.Parse(d.Template, declared)
		if err != nil {
			return configError(cfg, at, "secret %s: derived %s: %v", name, d.Where(), err)
		}
		s := &derive.Spec{Form: f, Secret: name, Where: d.Where(), SingleLine: d.SingleLine(), Logins: logins(cfg, spec)}
		if f.UsesLogin() && len(s.Logins) == 0 {
			return configError(cfg, at, "secret %s: derived %s reads .login, but the secret has no server with a login", name, d.Where())
		}
		set[derive.ID(name, i)] = s
	}
	return nil
}

// logins are what .login may stand for: the login roles of a server whose logins take turns, else the
// server's user.
func logins(cfg *config.Config, spec *config.Secret) []string {
	srv := cfg.Servers[spec.Server]
	switch {
	case srv == nil:
		return nil
	case srv.Alternates():
		return srv.LoginRoles()
	case srv.RotatedUser() != "":
		return []string{srv.RotatedUser()}
	}
	return nil
}

// addDerived adds the secret's derived locations after its plain ones, and their consumers like those
// of a plain variable or file. Each form is rendered once with Git's values (hashes left out) so that a
// form the location cannot hold is refused before anything is written.
func (b *secretBuilder) addDerived(ctx context.Context) error {
	if len(b.spec.Derived) == 0 {
		return nil
	}
	forms := derive.Set{}
	if err := secretForms(b.in.Config, b.name, forms); err != nil {
		return err
	}
	plain := len(b.out.Current)
	for i, d := range b.spec.Derived {
		id, field := derive.ID(b.name, i), fmt.Sprintf("derived.%d", i)
		spec := forms[id]
		if err := b.probe(spec, field); err != nil {
			return err
		}
		before := len(b.out.Current)
		var err error
		switch {
		case d.Env != "":
			err = b.addVar(ctx, d.Env, false)
		case d.File != "":
			err = b.addDerivedFile(d, field)
		default:
			err = b.addDerivedHostFile(d, field)
		}
		if err != nil {
			return err
		}
		for j := before; j < len(b.out.Current); j++ {
			b.out.Current[j].Form = id
		}
	}
	if b.spec.Server != "" && plain == 0 && !forms[derive.ID(b.name, 0)].Form.Decodable(derive.Data{Secret: b.value}) {
		return b.errorf("derived.0", "secret %s: its server needs the current value read back from the stack, and derived %s cannot give it back: give the secret a plain location (env or file), or list first a derived URL whose password is urlquery .value",
			b.name, b.spec.Derived[0].Where())
	}
	return b.loginWritten(forms)
}

// loginWritten refuses a secret whose server's logins take turns when nothing writes the login the new
// value was staged on: no login_env, and no derived location with {{ .login }} (a URL that keeps the
// user written out would pair the new password with the old login, and every rotation would fail).
func (b *secretBuilder) loginWritten(forms derive.Set) error {
	srv := b.in.Config.Servers[b.spec.Server]
	if srv == nil || !srv.Alternates() || b.spec.LoginEnv != "" {
		return nil
	}
	for i := range b.spec.Derived {
		if spec := forms[derive.ID(b.name, i)]; spec != nil && spec.Form.UsesLogin() {
			return nil
		}
	}
	return b.errorf("derived.0", "secret %s: %s logins take turns, and neither login_env nor a derived location ({{ .login }}) writes the login: put {{ .login }} where the user is in the template, or set login_env",
		b.name, srv.Type)
}

// probe renders a form with Git's values and refuses what its location cannot hold.
func (b *secretBuilder) probe(spec *derive.Spec, field string) error {
	value, _ := b.in.Values[b.name]
	out, err := spec.Form.Probe(derive.Data{Value: value, Login: first(spec.Logins), Secret: b.value})
	if err == nil {
		err = spec.Check(out)
	}
	if err != nil {
		return b.errorf(field+".template", "secret %s: %v", b.name, err)
	}
	return nil
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// value is the Git value of a secret, for forms naming another secret.
func (b *secretBuilder) value(name string) (string, bool) {
	v, ok := b.in.Values[name]
	return v, ok
}

func (b *secretBuilder) addDerivedFile(d config.Derived, field string) error {
	path := d.File
	if !filepath.IsAbs(path) {
		path = filepath.Join(b.in.Project.Dir(), path)
	}
	if _, err := os.Stat(path); err != nil {
		return b.errorf(field+".file", "secret %s: derived file %s: %v", b.name, path, unwrapPathError(err))
	}
	uses, err := b.in.Project.ConsumersOfFile(path)
	if err != nil {
		return fmt.Errorf("failed to find the consumers of %s: %w", path, err)
	}
	if len(uses) == 0 && len(b.spec.Consumers) == 0 {
		return b.errorf(field, "secret %s: no service of compose project %s uses %s (as a secret, config or bind mount); check the path, or declare consumers",
			b.name, b.in.Project.Name(), path)
	}
	for _, u := range uses {
		if u.Kind == composeio.KindEnvFile {
			return b.errorf(field, "secret %s: %s is an env_file of service %s; a derived file replaces the whole file: use env: VARIABLE for one variable in it",
				b.name, path, u.Service)
		}
		b.consumer(u.Service, reconcile.Restart, u.Kind+":"+u.Target)
	}
	b.out.Current = append(b.out.Current, reconcile.Location{Path: path})
	return nil
}

func (b *secretBuilder) addDerivedHostFile(d config.Derived, field string) error {
	if _, err := os.Stat(d.HostFile); err != nil {
		return b.errorf(field+".host_file", "secret %s: derived host file %s: %v", b.name, d.HostFile, unwrapPathError(err))
	}
	b.out.Current = append(b.out.Current, reconcile.Location{Path: d.HostFile, Key: d.Key})
	if _, ok := b.consumers[d.HostFile]; !ok {
		b.consumers[d.HostFile] = &reconcile.Consumer{Name: d.HostFile, Action: reconcile.NoRoll, Via: []string{"host_file"}}
	}
	return nil
}
