package engine

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rekeyhq/rekey/composeio"
	"github.com/rekeyhq/rekey/config"
	"github.com/rekeyhq/rekey/reconcile"
)

// Input is what Build needs. Values are plaintext and stay in memory.
type Input struct {
	Config   *config.Config
	Project  *composeio.Project
	Values   map[string]string
	FP       func(string) string
	Revision string
	// Skip, when set, isolates invalid secrets: each one is reported to Skip and left out, and the
	// others are built. When nil, the first invalid secret fails the whole build (the CLI's rule: bad
	// input changes nothing). The agent sets it, so one bad secret does not block the others.
	Skip func(secret string, err error)
}

// Build turns the config, the values and the Compose project into the desired state: for every secret,
// where it lives, who consumes it, in which order they roll and how to verify. Any problem is reported
// with the config's file and line, and nothing has been changed.
func Build(ctx context.Context, in Input) (reconcile.Desired, error) {
	d := reconcile.Desired{Revision: in.Revision}
	if err := checkChecks(in, "verify", in.Config.Verify); err != nil {
		return d, err
	}
	owner := map[reconcile.Location]string{}
	uses, err := varUses(ctx, in)
	if err != nil {
		return reconcile.Desired{}, err
	}
	strategies, err := Strategies(in.Config, in.Project)
	if err != nil {
		return reconcile.Desired{}, err
	}
	for _, name := range in.Config.Names() {
		s, err := buildSecret(ctx, in, name, uses)
		if err == nil {
			setStrategies(&s, strategies)
			err = claim(in, owner, s)
		}
		switch {
		case err != nil && in.Skip == nil:
			return reconcile.Desired{}, err
		case err != nil:
			in.Skip(name, err)
		default:
			d.Secrets = append(d.Secrets, s)
		}
	}
	return d, nil
}

// varUses finds the consumers of every variable the config names, in one probe of the project where it
// can (see composeio.ConsumersOfVars).
func varUses(ctx context.Context, in Input) (map[string][]composeio.VarUse, error) {
	uses, err := in.Project.ConsumersOfVars(ctx, ProbeVars(in.Config))
	if err != nil {
		return nil, fmt.Errorf("failed to find the consumers of the secrets' variables: %w", err)
	}
	return uses, nil
}

// ProbeVars are the variables Build asks the consumers of: each secret's current, previous and login
// variables. Load's prefetched probe (composeio.WithProbe) must ask about exactly these to be used.
func ProbeVars(cfg *config.Config) []string {
	var vars []string
	for _, name := range cfg.Names() {
		cur, prev := cfg.Secrets[name].Vars()
		for _, v := range []string{cur, prev, cfg.Secrets[name].LoginEnv} {
			if v != "" {
				vars = append(vars, v)
			}
		}
		for _, d := range cfg.Secrets[name].Derived {
			if d.Env != "" {
				vars = append(vars, d.Env)
			}
		}
	}
	return vars
}

// claim records the secret's locations, refusing one another secret already lives at.
func claim(in Input, owner map[reconcile.Location]string, s reconcile.Secret) error {
	locs := slices.Concat(s.Current, s.Previous, s.Logins)
	for i := range locs {
		locs[i].Form = "" // a derived location is the same place as a plain one
	}
	for _, l := range locs {
		if other, taken := owner[l]; taken {
			return configError(in.Config, "secrets."+s.Name,
				"secrets %s and %s both live at %s: a location belongs to one secret", other, s.Name, l)
		}
	}
	for _, l := range locs {
		owner[l] = s.Name
	}
	return nil
}

func configError(c *config.Config, path, format string, args ...any) error {
	line := c.Line(path)
	for line == 0 && strings.Contains(path, ".") {
		path = path[:strings.LastIndex(path, ".")]
		line = c.Line(path)
	}
	return &config.Error{File: c.File, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// checkChecks refuses checks that could only fail after the rotation has started.
func checkChecks(in Input, path string, cs []config.Check) error {
	for i, c := range cs {
		at := fmt.Sprintf("%s.%d", path, i)
		switch {
		case c.HTTP != nil:
			u, err := url.Parse(c.HTTP.URL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return configError(in.Config, at, "http check: %q is not an http(s) URL", c.HTTP.URL)
			}
		case c.Exec != nil && !in.Project.HasService(c.Exec.Service):
			return configError(in.Config, at, "exec check: unknown service %q in compose project %s", c.Exec.Service, in.Project.Name())
		case c.Logs != nil && c.Logs.Service != "" && !in.Project.HasService(c.Logs.Service):
			return configError(in.Config, at, "logs check: unknown service %q in compose project %s", c.Logs.Service, in.Project.Name())
		case c.Cmd != nil && filepath.IsAbs(c.Cmd[0]):
			if fi, err := os.Stat(c.Cmd[0]); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
				return configError(in.Config, at, "cmd check: %s is not an executable file", c.Cmd[0])
			}
		}
	}
	return nil
}

// secretBuilder gathers one secret's locations and consumers.
type secretBuilder struct {
	in        Input
	name      string
	spec      *config.Secret
	uses      map[string][]composeio.VarUse // consumers of each variable, found up front
	out       reconcile.Secret
	consumers map[string]*reconcile.Consumer
}

func buildSecret(ctx context.Context, in Input, name string, uses map[string][]composeio.VarUse) (reconcile.Secret, error) {
	spec := in.Config.Secrets[name]
	b := &secretBuilder{in: in, name: name, spec: spec, uses: uses, consumers: map[string]*reconcile.Consumer{}}
	b.out = reconcile.Secret{Name: name, Kind: reconcile.Kind(spec.Type), KeepPrevious: spec.KeepPrevious.Duration,
		Heal: in.Config.Heals(name), Keep: spec.RotationClass() == config.RotationNever,
		AllowDestroy: slices.Contains(in.Config.AllowDestroy, name)}
	value, ok := in.Values[name]
	if !ok {
		return b.out, b.errorf("", "secret %s is missing from the values file %s: add it with `rekey values set %s`",
			name, in.Config.Values, name)
	}
	if value == "" {
		return b.out, b.errorf("", "secret %s has an empty value in %s", name, in.Config.Values)
	}
	if spec.Env != nil && (!utf8.ValidString(value) || strings.ContainsRune(value, 0)) {
		return b.out, b.errorf("env", "secret %s: its value holds a NUL byte or invalid UTF-8, which an env file cannot carry", name)
	}
	if err := checkChecks(in, "secrets."+name+".verify", spec.Verify); err != nil {
		return b.out, err
	}
	for i, c := range spec.Consumers {
		if c.Verify != nil {
			if err := checkChecks(in, fmt.Sprintf("secrets.%s.consumers.%d.verify", name, i), []config.Check{*c.Verify}); err != nil {
				return b.out, err
			}
		}
	}
	b.out.DesiredFP = in.FP(value)
	cur, prev := spec.Vars()
	if err := b.addVar(ctx, cur, false); err != nil {
		return b.out, err
	}
	if err := b.addVar(ctx, prev, true); err != nil {
		return b.out, err
	}
	if err := b.addFile(); err != nil {
		return b.out, err
	}
	if err := b.addDeclared(); err != nil {
		return b.out, err
	}
	if err := b.addLogin(ctx); err != nil {
		return b.out, err
	}
	if err := b.addDerived(ctx); err != nil {
		return b.out, err
	}
	b.markBootstrap(cur)
	if err := b.order(); err != nil {
		return b.out, err
	}
	if err := b.addServer(); err != nil {
		return b.out, err
	}
	b.out.Checks = append(checks(spec.Verify), checks(in.Config.Verify)...)
	return b.out, nil
}

func (b *secretBuilder) errorf(field, format string, args ...any) error {
	path := "secrets." + b.name
	if field != "" {
		path += "." + field
	}
	return configError(b.in.Config, path, format, args...)
}

// addVar finds who uses a variable and where it is assigned.
func (b *secretBuilder) addVar(ctx context.Context, v string, previous bool) error {
	if v == "" {
		return nil
	}
	uses, ok := b.uses[v]
	if !ok {
		var err error
		if uses, err = b.in.Project.ConsumersOfVar(ctx, v); err != nil {
			return fmt.Errorf("failed to find the consumers of %s: %w", v, err)
		}
	}
	if len(uses) == 0 && len(b.spec.Consumers) == 0 {
		return b.errorf("env", "secret %s: variable %s is not used by any service of compose project %s; check the name, or declare consumers",
			b.name, v, b.in.Project.Name())
	}
	for _, u := range uses {
		b.consumer(u.Service, reconcile.Recreate, u.Via...)
	}
	locs := b.varLocations(v)
	for _, l := range locs {
		if _, err := os.Stat(l.Path); err != nil {
			return b.errorf("env", "secret %s: %s: %v; create it (mode 0600) with a line %s=",
				b.name, l.Path, unwrapPathError(err), v)
		}
	}
	if previous {
		b.out.Previous = append(b.out.Previous, locs...)
	} else {
		b.out.Current = append(b.out.Current, locs...)
	}
	return nil
}

// varLocations are the files assigning v; a variable only interpolated is written to the project .env.
func (b *secretBuilder) varLocations(v string) []reconcile.Location {
	var locs []reconcile.Location
	for _, src := range b.in.Project.VarSources(v) {
		locs = append(locs, reconcile.Location{Path: src.Path, Key: v})
	}
	if len(locs) == 0 {
		dotenv := b.in.Project.DotEnvPath()
		if dotenv == "" {
			dotenv = filepath.Join(b.in.Project.Dir(), ".env")
		}
		locs = append(locs, reconcile.Location{Path: dotenv, Key: v})
	}
	return locs
}

func (b *secretBuilder) addFile() error {
	if b.spec.File == "" {
		return nil
	}
	path := b.spec.File
	if !filepath.IsAbs(path) {
		path = filepath.Join(b.in.Project.Dir(), path)
	}
	if _, err := os.Stat(path); err != nil {
		return b.errorf("file", "secret %s: file %s: %v", b.name, path, unwrapPathError(err))
	}
	uses, err := b.in.Project.ConsumersOfFile(path)
	if err != nil {
		return fmt.Errorf("failed to find the consumers of %s: %w", path, err)
	}
	if len(uses) == 0 && len(b.spec.Consumers) == 0 {
		return b.errorf("file", "secret %s: no service of compose project %s uses %s (as a secret, config or bind mount); check the path, or declare consumers",
			b.name, b.in.Project.Name(), path)
	}
	for _, u := range uses {
		if u.Kind == composeio.KindEnvFile {
			return b.errorf("file", "secret %s: %s is an env_file of service %s; a file secret replaces the whole file: use env: {value: VARIABLE} to rotate one variable in it",
				b.name, path, u.Service)
		}
		// Compose does not notice a changed file: restart re-reads it.
		b.consumer(u.Service, reconcile.Restart, u.Kind+":"+u.Target)
	}
	b.out.Current = append(b.out.Current, reconcile.Location{Path: path})
	return nil
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// addDeclared adds the consumers compose cannot show.
func (b *secretBuilder) addDeclared() error {
	for i, c := range b.spec.Consumers {
		field := fmt.Sprintf("consumers.%d", i)
		switch {
		case c.Service != "":
			if !b.in.Project.HasService(c.Service) {
				return b.errorf(field, "secret %s: unknown service %q in compose project %s (services: %v)",
					b.name, c.Service, b.in.Project.Name(), b.in.Project.Services())
			}
			b.consumer(c.Service, reconcile.Restart, "declared")
			if c.Verify != nil {
				b.consumers[c.Service].Checks = append(b.consumers[c.Service].Checks, checks([]config.Check{*c.Verify})...)
			}
		case c.HostFile != "":
			if _, err := os.Stat(c.HostFile); err != nil {
				return b.errorf(field, "secret %s: host file %s: %v", b.name, c.HostFile, unwrapPathError(err))
			}
			b.out.Current = append(b.out.Current, reconcile.Location{Path: c.HostFile, Key: c.Key})
			hc := reconcile.Consumer{Name: c.HostFile, Action: reconcile.NoRoll, Via: []string{"host_file"}}
			if c.Verify != nil {
				hc.Checks = checks([]config.Check{*c.Verify})
			}
			b.consumers[c.HostFile] = &hc
		}
	}
	return nil
}

// consumer adds or upgrades a consumer: recreating also re-reads files, so Recreate wins over Restart.
func (b *secretBuilder) consumer(name string, action reconcile.RollAction, via ...string) {
	c, ok := b.consumers[name]
	if !ok {
		c = &reconcile.Consumer{Name: name, Action: action}
		b.consumers[name] = c
	}
	if action == reconcile.Recreate {
		c.Action = reconcile.Recreate
	}
	for _, v := range via {
		if !slices.Contains(c.Via, v) {
			c.Via = append(c.Via, v)
		}
	}
}

// order puts services in compose dependency order, then host consumers.
func (b *secretBuilder) order() error {
	var services, hosts []string
	for name, c := range b.consumers {
		if c.Action == reconcile.NoRoll {
			hosts = append(hosts, name)
		} else {
			services = append(services, name)
		}
	}
	ordered, err := b.in.Project.Order(services)
	if err != nil {
		return b.errorf("", "secret %s: %v", b.name, err)
	}
	sort.Strings(hosts)
	for _, n := range append(ordered, hosts...) {
		b.out.Consumers = append(b.out.Consumers, *b.consumers[n])
	}
	return nil
}

func checks(cs []config.Check) []reconcile.Check {
	var out []reconcile.Check
	for _, c := range cs {
		switch {
		case c.HTTP != nil:
			status := c.HTTP.Status
			if status == 0 {
				status = 200
			}
			out = append(out, reconcile.Check{Kind: reconcile.CheckHTTP, URL: c.HTTP.URL, Status: status,
				Timeout: orDefault(c.HTTP.Timeout.Duration, 10*time.Second)})
		case c.Exec != nil:
			out = append(out, reconcile.Check{Kind: reconcile.CheckExec, Service: c.Exec.Service, Cmd: c.Exec.Cmd})
		case c.Logs != nil:
			out = append(out, reconcile.Check{Kind: reconcile.CheckLogs, Service: c.Logs.Service, Deny: c.Logs.Deny})
		case c.Cmd != nil:
			out = append(out, reconcile.Check{Kind: reconcile.CheckCmd, Cmd: c.Cmd})
		}
	}
	return out
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}
