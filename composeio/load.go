// Package composeio loads a Docker Compose project with compose-go and answers the questions rekey asks of
// it: which services consume a variable or a host file, and in which order services restart.
//
// It only reads files: no Docker engine is involved. Nothing here reads the process environment: the only
// environment is the project's `.env` file plus the overrides passed explicitly with WithEnv.
package composeio

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/types"
)

// DefaultFileNames are the compose file names looked for in the project directory, in order of preference.
var DefaultFileNames = []string{"compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"}

// DefaultOverrideFileNames are the override files applied on top of a discovered default compose file.
var DefaultOverrideFileNames = []string{
	"compose.override.yml", "compose.override.yaml", "docker-compose.override.yml", "docker-compose.override.yaml",
}

// Option configures Load.
type Option func(*options)

type options struct {
	files    []string
	name     string
	env      map[string]string
	profiles []string
	profSet  bool
	probe    []string // WithProbe
}

// WithFiles selects the compose files explicitly (absolute or relative to the project directory), in
// override order. Without it, Load looks for compose's default file names in the project directory (and
// honours COMPOSE_FILE when the project `.env` sets it).
func WithFiles(paths ...string) Option {
	return func(o *options) { o.files = append([]string(nil), paths...) }
}

// WithProjectName sets the compose project name (otherwise: `name:` in the file, COMPOSE_PROJECT_NAME in
// `.env`, or the directory name).
func WithProjectName(name string) Option {
	return func(o *options) { o.name = name }
}

// WithEnv sets variables for interpolation with the highest precedence: they override the project `.env`
// and are visible to interpolation inside `.env` itself. Later calls add to earlier ones.
func WithEnv(env map[string]string) Option {
	return func(o *options) {
		if o.env == nil {
			o.env = map[string]string{}
		}
		maps.Copy(o.env, env)
	}
}

// WithProfiles activates compose profiles. Without it, COMPOSE_PROFILES from the project environment is used.
func WithProfiles(profiles ...string) Option {
	return func(o *options) {
		o.profiles = append([]string(nil), profiles...)
		o.profSet = true
	}
}

// Project is a loaded compose project.
type Project struct {
	dir    string
	files  []string
	dotenv string
	opts   options
	p      *types.Project

	// dotenvVars and envFileVars hold the names (never the values) assigned in `.env` and in each env_file.
	dotenvVars  map[string]bool
	envFileVars map[string]map[string]bool
	// referenced holds the names other assignments in `.env` or an env_file refer to (`URL=…${PASSWORD}…`):
	// a combined probe that overrides both would hide the use through the other (see ConsumersOfVars).
	referenced map[string]bool
	// nested says a compose file interpolates inside an interpolation (`${A:-${B}}`): there, a variable
	// that is empty now can hide behind another in a combined probe.
	nested bool
	// inputs records the files the load at Load read, so that a probe can reuse p as its base while they
	// are unchanged (see withBase); nil when that load cannot be reused.
	inputs inputs

	// canon holds the project's own paths (secret, config, bind and env_file sources) with symlinks
	// resolved, as ConsumersOfFile first needed them.
	canonMu sync.Mutex
	canon   map[string]string
	// pre is the probe Load ran for WithProbe, until ConsumersOfVars takes it (see takeProbe).
	preMu sync.Mutex
	pre   *prefetched
	// graph is the dependency graph of the enabled services (see dependencyGraph).
	graphOnce sync.Once
	graph     map[string][]string
	// loads counts the compose-go loads of the project, Load's included (the tests count them).
	loads atomic.Int64
	// prunedLoads counts the probes loaded with a pruned cast mapping (see loadProbe).
	prunedLoads atomic.Int64
	// fullCasts makes every probe load with compose-go's full cast mapping (the tests compare both).
	fullCasts bool
	// afterPrunedLoad, when set, runs between a pruned probe's load and the check of its files (tests).
	afterPrunedLoad func()
}

// Load loads the compose project in dir. Errors name the file involved and never contain a variable's value.
func Load(ctx context.Context, dir string, opts ...Option) (*Project, error) {
	var o options
	for _, fn := range opts {
		fn(&o)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("failed to resolve project directory %s: %w", dir, err)
	}
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("project directory %s does not exist", abs)
	case err != nil:
		return nil, fmt.Errorf("failed to stat project directory %s: %w", abs, err)
	case !fi.IsDir():
		return nil, fmt.Errorf("project directory %s is not a directory", abs)
	}

	dotEnvPath, err := findDotEnv(abs)
	if err != nil {
		return nil, err
	}
	if err := checkInputs([]string{dotEnvPath}); err != nil {
		return nil, err
	}
	files, err := resolveFiles(abs, dotEnvPath, o.files, o.env)
	if err != nil {
		return nil, err
	}
	if err := checkInputs(files); err != nil {
		return nil, err
	}
	p := &Project{dir: abs, files: files, dotenv: dotEnvPath, opts: o}
	// The compose files and `.env` are recorded before the load as well as after it, so that one edited
	// while compose-go read it does not pass for what the loaded project came from.
	paths, _ := p.inputFiles(nil)
	before := snapshot(paths)
	waitProbe := p.startProbe(ctx) // WithProbe: the probe loads while the base does
	defer waitProbe()
	var events loadEvents
	tp, err := p.loadMain(ctx, events.listen)
	if err != nil {
		return nil, err
	}
	p.p = tp
	if err := p.readAssignments(); err != nil {
		return nil, err
	}
	waitProbe() // the state recorded below must cover what the probe read too
	if paths, ok := p.inputFiles(tp); ok && before != nil && !events.other {
		if after := snapshot(paths); after != nil && after.includes(before) {
			p.inputs = after
		}
	}
	return p, nil
}

// readAssignments records which variables `.env` and the env_files of enabled services assign.
func (p *Project) readAssignments() error {
	p.referenced = map[string]bool{}
	for _, f := range p.files {
		data, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("failed to read %s: %w", f, err)
		}
		p.nested = p.nested || nestedInterpolation.Match(data)
	}
	if p.dotenv != "" {
		vars, err := assignedVars(p.dotenv, "", p.referenced)
		if err != nil {
			return err
		}
		p.dotenvVars = vars
	}
	p.envFileVars = map[string]map[string]bool{}
	for _, name := range p.Services() {
		for _, f := range p.p.Services[name].EnvFiles {
			if _, done := p.envFileVars[f.Path]; done {
				continue
			}
			if _, err := os.Stat(f.Path); errors.Is(err, fs.ErrNotExist) && !bool(f.Required) {
				continue
			}
			vars, err := assignedVars(f.Path, f.Format, p.referenced)
			if err != nil {
				return err
			}
			p.envFileVars[f.Path] = vars
		}
	}
	return nil
}

// nestedInterpolation finds `${` inside an unclosed `${`.
var nestedInterpolation = regexp.MustCompile(`\$\{[^}]*\$\{`)

// assignedVars returns the variables a dotenv-style file assigns. A bare `NAME` line and `NAME=${NAME}` pass
// the environment's value through: they are not assignments. The names that assignments refer to are
// added to refs.
func assignedVars(path, format string, refs map[string]bool) (map[string]bool, error) {
	const marker = "\x00rekey-passthrough:"
	vars, err := parseEnvFileWith(path, format, func(k string) (string, bool) { return marker + k + "\x00", true })
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(vars))
	for k, v := range vars {
		if v == marker+k+"\x00" {
			continue
		}
		out[k] = true
		for _, part := range strings.Split(v, marker)[1:] {
			if name, _, ok := strings.Cut(part, "\x00"); ok {
				refs[name] = true
			}
		}
	}
	return out, nil
}

// findDotEnv returns the absolute path of the project `.env`, or "" when there is none (a directory named
// `.env` is ignored, as compose does).
func findDotEnv(dir string) (string, error) {
	path := filepath.Join(dir, ".env")
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("failed to stat %s: %w", path, err)
	case fi.IsDir():
		return "", nil
	}
	return path, nil
}

// resolveFiles returns the absolute compose file paths: the explicit ones, COMPOSE_FILE from the project
// `.env`, or the default file (plus its override) in dir.
func resolveFiles(dir, dotEnvPath string, explicit []string, overrides map[string]string) ([]string, error) {
	if len(explicit) > 0 {
		return absFiles(dir, explicit, "")
	}
	if dotEnvPath != "" {
		env, err := parseEnvFile(dotEnvPath, "", overrides)
		if err != nil {
			return nil, err
		}
		maps.Copy(env, overrides)
		if cf := env["COMPOSE_FILE"]; cf != "" {
			sep := env["COMPOSE_PATH_SEPARATOR"]
			if sep == "" {
				sep = string(os.PathListSeparator)
			}
			var paths []string
			for _, f := range strings.Split(cf, sep) {
				if f = strings.TrimSpace(f); f != "" {
					paths = append(paths, f)
				}
			}
			if len(paths) > 0 {
				return absFiles(dir, paths, " (set by COMPOSE_FILE in "+dotEnvPath+")")
			}
		}
	}
	var files []string
	for _, names := range [][]string{DefaultFileNames, DefaultOverrideFileNames} {
		for _, n := range names {
			path := filepath.Join(dir, n)
			if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() {
				files = append(files, path)
				break
			}
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("no compose file found in %s (looked for %s)", dir, strings.Join(DefaultFileNames, ", "))
		}
	}
	return files, nil
}

func absFiles(dir string, paths []string, origin string) ([]string, error) {
	out := make([]string, 0, len(paths))
	for _, f := range paths {
		if !filepath.IsAbs(f) {
			f = filepath.Join(dir, f)
		}
		f = filepath.Clean(f)
		fi, err := os.Stat(f)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("compose file %s%s does not exist", f, origin)
		case err != nil:
			return nil, fmt.Errorf("failed to stat compose file %s%s: %w", f, origin, err)
		case !fi.Mode().IsRegular():
			return nil, fmt.Errorf("compose file %s%s is not a regular file", f, origin)
		}
		out = append(out, f)
	}
	return out, nil
}

// load runs compose-go with the project `.env` and the given overrides as the only environment.
func (p *Project) load(ctx context.Context, overrides map[string]string) (*types.Project, error) {
	return p.loadWith(ctx, overrides, nil)
}

// loadWith is load with a listener for compose-go's loader events (nil for none).
func (p *Project) loadWith(ctx context.Context, overrides map[string]string, listener func(string, map[string]any), extra ...cli.ProjectOptionsFn) (*types.Project, error) {
	p.loads.Add(1)
	env := map[string]string{}
	maps.Copy(env, p.opts.env)
	maps.Copy(env, overrides)

	fns := []cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(p.dir),
		cli.WithName(p.opts.name),
		// Overrides first: WithDotEnv only adds variables that are not set yet, and `.env` interpolation
		// looks them up first, so they take precedence everywhere.
		withEnvMap(env),
	}
	if p.dotenv != "" {
		// WithEnvFiles must come before WithDotEnv, else `.env` is ignored. An explicit path also keeps
		// compose-go from consulting COMPOSE_DISABLE_ENV_FILE in the process environment.
		fns = append(fns, cli.WithEnvFiles(p.dotenv), cli.WithDotEnv)
	}
	if p.opts.profSet {
		fns = append(fns, cli.WithProfiles(p.opts.profiles))
	} else {
		fns = append(fns, cli.WithDefaultProfiles()) // COMPOSE_PROFILES from the project environment only
	}
	if listener != nil {
		fns = append(fns, func(o *cli.ProjectOptions) error {
			o.WithListeners(listener)
			return nil
		})
	}
	fns = append(fns, extra...)
	po, err := cli.NewProjectOptions(p.files, fns...)
	if err != nil {
		return nil, p.loadError(err, env)
	}
	tp, err := po.LoadProject(ctx)
	if err != nil {
		return nil, p.loadError(err, po.Environment)
	}
	return tp, nil
}

func withEnvMap(env map[string]string) cli.ProjectOptionsFn {
	return func(o *cli.ProjectOptions) error {
		maps.Copy(o.Environment, env)
		return nil
	}
}

// parseEnvFile returns the variables a dotenv-style file assigns, resolving references to other variables
// against env only (as compose-go does for `.env` with the explicit overrides).
func parseEnvFile(path, format string, env map[string]string) (map[string]string, error) {
	return parseEnvFileWith(path, format, func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
}

func parseEnvFileWith(path, format string, lookup func(string) (string, bool)) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("failed to open %s: %w", path, err)
	}
	defer f.Close()
	vars := map[string]string{}
	if err := dotenv.ParseWithFormat(f, path, vars, lookup, format); err != nil {
		return nil, fmt.Errorf("failed to parse %s: %s", path, redactDotenvError(err))
	}
	return vars, nil
}

// Name returns the compose project name.
func (p *Project) Name() string { return p.p.Name }

// Dir returns the absolute project directory.
func (p *Project) Dir() string { return p.dir }

// Files returns the absolute paths of the compose files, in override order.
func (p *Project) Files() []string { return slices.Clone(p.files) }

// DotEnvPath returns the absolute path of the project `.env`, or "" when there is none.
func (p *Project) DotEnvPath() string { return p.dotenv }

// Services returns the names of the enabled services, sorted.
func (p *Project) Services() []string {
	names := p.p.ServiceNames()
	slices.Sort(names)
	return names
}

// HasService reports whether name is an enabled service of the project.
func (p *Project) HasService(name string) bool {
	_, ok := p.p.Services[name]
	return ok
}

// Types returns the underlying compose-go project. Callers must not modify it.
func (p *Project) Types() *types.Project { return p.p }
