package discover

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rekeyhq/rekey/composeio"
	"github.com/rekeyhq/rekey/config"
	"github.com/rekeyhq/rekey/envfile"
	imgs "github.com/rekeyhq/rekey/internal/images"
	"github.com/rekeyhq/rekey/internal/redact"
	"github.com/rekeyhq/rekey/live"
	"github.com/rekeyhq/rekey/reconcile"
	"github.com/rekeyhq/rekey/report"
)

// Options are what `rekey init` was asked besides the project.
type Options struct {
	// ComposeFiles are the compose files chosen with --file (nil: compose's defaults), written to
	// rekey.yaml as compose.files.
	ComposeFiles []string
	// Scans are files or directories of host files to search for the secrets (--scan).
	Scans []string
}

// Discover proposes the secrets of a loaded project. The second result lists every credential value it
// saw, for the caller's redactor, also when it fails.
func Discover(ctx context.Context, p *composeio.Project, o Options) (*Report, []string, error) {
	rep := &Report{Project: p.Name(), ProjectDir: p.Dir(), ComposeFiles: o.ComposeFiles,
		Skipped: []Skip{}, Hidden: []Hidden{}, HostFiles: []HostRef{}}
	f := &finder{p: p, rep: rep, names: map[string]bool{}}
	secrets, err := f.find(ctx)
	if err != nil {
		return rep, f.values, err
	}
	if len(o.Scans) > 0 {
		if err := scanHost(o.Scans, secrets, rep); err != nil {
			return rep, f.values, err
		}
	}
	literalInCompose(p, secrets, rep)
	for _, s := range secrets {
		if redact.CommonWord(s.value) {
			rep.Hidden = append(rep.Hidden, Hidden{Kind: HiddenWeak, Secret: s.Name, Note: fmt.Sprintf(
				"the value of %s is a common word (a shipped default?): anyone can guess it; rotate it once the rotation is set up", s.Name)})
		}
	}
	if off := p.Types().DisabledServiceNames(); len(off) > 0 {
		slices.Sort(off)
		rep.Hidden = append(rep.Hidden, Hidden{Kind: HiddenInactive, Note: fmt.Sprintf(
			"services %s belong to profiles COMPOSE_PROFILES does not activate: init and plan do not see them, nor what they read; activate the profile in .env and run init again to include them",
			strings.Join(off, ", "))})
	}
	if secrets, err = validate(ctx, p, secrets, rep); err != nil {
		return rep, f.values, err
	}
	if len(secrets) == 0 {
		return rep, f.values, fmt.Errorf("found no secret to manage in %s (looked at .env, env_files and compose secrets with file:)", p.Dir())
	}
	rep.Secrets = secrets
	proposeServers(f, secrets, rep)
	if err := checkServers(ctx, p, secrets, rep); err != nil {
		return rep, f.values, err
	}
	return rep, f.values, nil
}

// finder finds the candidate secrets of one project.
type finder struct {
	p      *composeio.Project
	rep    *Report
	values []string          // every credential value seen, for the redactor
	env    map[string]string // the variables assigned in .env and env_files, first file first
	names  map[string]bool   // secret names handed out
}

// candidate is a variable that looks like a credential.
type candidate struct {
	name, value, why, prev string
	sources                []string
	diverged               bool
}

// find finds the candidate secrets: variables assigned in .env and env_files, and compose secrets with
// file:. Values stay in memory.
func (f *finder) find(ctx context.Context) ([]*Secret, error) {
	raw, assigned, err := readEnvFiles(f.p)
	if err != nil {
		return nil, err
	}
	f.env = assignedValues(f.p, raw)
	composeText, err := readComposeFiles(f.p)
	if err != nil {
		return nil, err
	}
	known := func(v string) bool {
		return assigned[v] || bytes.Contains(composeText, []byte("${"+v)) || bytes.Contains(composeText, []byte("$"+v))
	}
	cands, err := f.candidates(ctx, raw, assigned, known)
	if err != nil {
		return nil, err
	}
	out, err := f.proposeVars(ctx, cands)
	if err != nil {
		return nil, err
	}
	files, err := f.composeSecrets(ctx)
	if err != nil {
		return nil, err
	}
	out = append(out, files...)
	binds, err := f.bindSecrets(ctx, files)
	if err != nil {
		return nil, err
	}
	out = append(out, binds...)
	out = proposeDerived(out, f.rep)
	if err := f.proposeReferences(ctx, raw, out); err != nil {
		return nil, err
	}
	embedded(out, f.rep)
	return out, nil
}

// readEnvFiles reads the project .env and every service's env_files: their raw text, and the variables
// they assign that the project uses.
func readEnvFiles(p *composeio.Project) (map[string][]byte, map[string]bool, error) {
	envFiles := []string{}
	if p.DotEnvPath() != "" {
		envFiles = append(envFiles, p.DotEnvPath())
	}
	for _, name := range p.Services() {
		for _, f := range p.Types().Services[name].EnvFiles {
			if !slices.Contains(envFiles, f.Path) {
				envFiles = append(envFiles, f.Path)
			}
		}
	}
	raw := map[string][]byte{}
	assigned := map[string]bool{}
	for _, f := range envFiles {
		data, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		ef, err := envfile.Parse(data)
		if err != nil {
			return nil, nil, fmt.Errorf("failed to parse %s: %w", f, err)
		}
		raw[f] = data
		for _, k := range ef.Keys() {
			if len(p.VarSources(k)) > 0 {
				assigned[k] = true
			}
		}
	}
	return raw, assigned, nil
}

func readComposeFiles(p *composeio.Project) ([]byte, error) {
	var text []byte
	for _, f := range p.Files() {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		text = append(text, data...)
	}
	return text, nil
}

// candidates keeps the assigned variables that look like credentials, with the sibling holding an app
// key's previous value; a derived assignment is left out and reported.
func (f *finder) candidates(ctx context.Context, raw map[string][]byte, assigned map[string]bool, known func(string) bool) ([]candidate, error) {
	var cands []candidate
	siblings := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(assigned)) {
		c, derived, err := f.read(ctx, raw, name)
		if err != nil {
			return nil, err
		}
		ok, why := candidateVar(name, c.value)
		// A reference to a variable of another file reads as "" (or a URL without a password), so a
		// derived credential is judged by its name as well as by its value.
		if !ok && !(derived && (secretName(name) || urlName(name))) {
			continue
		}
		if derived {
			f.rep.Skipped = append(f.rep.Skipped, Skip{Name: name, Reason: "its assignment refers to another variable; rekey would replace the reference with a literal"})
			f.rep.Hidden = append(f.rep.Hidden, Hidden{Kind: HiddenDerived, Note: fmt.Sprintf(
				"%s is built from another variable in %s: rotate the variable it refers to, and it follows", name, strings.Join(c.sources, ", "))})
			continue
		}
		c.why = why
		if guessKind(name, c.value, nil, false).Kind == kindAppKey || why != "" {
			if s := previousSibling(name, known); s != "" {
				c.prev = s
				siblings[s] = true
			}
		}
		cands = append(cands, c)
	}
	cands = slices.DeleteFunc(cands, func(c candidate) bool { return siblings[c.name] })
	for _, other := range publicHalves(cands, f.env) {
		c, _, err := f.read(ctx, raw, other)
		if err != nil {
			return nil, err
		}
		c.why = "other half of a keypair"
		cands = append(cands, c)
	}
	return cands, nil
}

// assignedValues are the values of the assigned variables, from the first file that assigns each.
func assignedValues(p *composeio.Project, raw map[string][]byte) map[string]string {
	env := map[string]string{}
	files := slices.Sorted(maps.Keys(raw))
	if d := p.DotEnvPath(); raw[d] != nil { // .env first: compose reads it first
		files = append([]string{d}, slices.DeleteFunc(files, func(f string) bool { return f == d })...)
	}
	for _, path := range files {
		ef, err := envfile.Parse(raw[path])
		if err != nil {
			continue
		}
		for k, v := range ef.Values() {
			if _, seen := env[k]; !seen {
				env[k] = v
			}
		}
	}
	return env
}

// ignoredByImage reports a database image that reads the value under none of its names.
func ignoredByImage(image, name string, aliases []string) bool {
	return !slices.ContainsFunc(append([]string{name}, aliases...), func(k string) bool { return !imgs.Ignores(k, image) })
}

// aliasesIn are the variables of a service's environment that carry value under another name than v.
func aliasesIn(env map[string]*string, v, value string) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		if val := env[k]; val != nil && value != "" && *val == value && k != v {
			out = append(out, k)
		}
	}
	return out
}

// settle proposes the secret's rotation class and, for a value rekey may make, how to make it.
func (f *finder) settle(s *Secret) {
	env := maps.Clone(f.env)
	for k, v := range s.svcEnv {
		if _, ok := env[k]; !ok {
			env[k] = v // a mail host written in compose
		}
	}
	c := classify(s, env, f.p.Services())
	s.Rotation, s.RotationReason = c.Name, c.Reason
	if c.Name == config.RotationGenerated {
		s.generate = deriveGenerate(s.value)
	}
}

// read reads a variable in every file that assigns it: the first file's value, whether the files
// disagree, and whether an assignment refers to another variable. Only credentials' values join the
// redactor's list: hiding every value (a user name "postgres", a count "1", the project name) would
// mangle the report and the commands it prints.
func (f *finder) read(ctx context.Context, raw map[string][]byte, name string) (candidate, bool, error) {
	c := candidate{name: name}
	derived := false
	var vals []string
	for i, src := range f.p.VarSources(name) {
		v, err := live.Files{}.ReadValue(ctx, reconcile.Location{Path: src.Path, Key: name})
		if err != nil {
			return c, false, err
		}
		if v != "" {
			vals = append(vals, v)
		}
		if i == 0 {
			c.value = v
		} else if v != c.value {
			c.diverged = true
		}
		if slices.Contains(c.sources, src.Path) {
			continue // .env listed as an env_file too: one source
		}
		c.sources = append(c.sources, src.Path)
		derived = derived || derivedLine(raw[src.Path], name)
	}
	if ok, _ := candidateVar(name, c.value); ok || isPreviousName(name) {
		f.values = append(f.values, vals...)
	}
	return c, derived, nil
}

// proposeVars turns the candidate variables into secrets: consumers, kind, type and the hidden
// dependencies each one reveals.
func (f *finder) proposeVars(ctx context.Context, cands []candidate) ([]*Secret, error) {
	vars := []string{}
	for _, c := range cands {
		vars = append(vars, c.name)
		if c.prev != "" {
			vars = append(vars, c.prev)
		}
	}
	uses, err := f.p.ConsumersOfVars(ctx, vars)
	if err != nil {
		return nil, fmt.Errorf("failed to find the consumers of the candidate variables: %w", err)
	}
	var out []*Secret
	for _, c := range cands {
		out = append(out, f.proposeVar(c, uses[c.name]))
	}
	return out, nil
}

func (f *finder) proposeVar(c candidate, uses []composeio.VarUse) *Secret {
	s := &Secret{Name: secretNameFor(c.name, f.names), Var: c.name, Why: c.why, value: c.value, Sources: c.sources, Consumers: []string{}}
	var images []string
	viaCommand := false
	for _, u := range uses {
		svc := f.p.Types().Services[u.Service]
		aliases := aliasesIn(svc.Environment, c.name, c.value)
		for k, v := range svc.Environment {
			if v != nil {
				if s.svcEnv == nil {
					s.svcEnv = map[string]string{}
				}
				s.svcEnv[k] = *v
			}
		}
		s.aliases = append(s.aliases, aliases...)
		s.Consumers = append(s.Consumers, fmt.Sprintf("%s (%s)", u.Service, strings.Join(u.Via, ", ")))
		if !slices.Contains(u.Via, "interpolation:command") && ignoredByImage(svc.Image, c.name, aliases) {
			continue // a database container that gets it through a shared env_file does not make it its password
		}
		images = append(images, svc.Image)
		viaCommand = viaCommand || slices.Contains(u.Via, "interpolation:command")
	}
	g := guessKind(c.name, c.value, images, viaCommand)
	s.Kind, s.Bootstrap, s.Type = g.Kind, g.Bootstrap, kindToken
	switch {
	case g.Kind == kindAppKey && c.prev != "":
		s.Type, s.Previous = kindAppKey, c.prev
	case g.Kind == kindAppKey:
		s.comments = append(s.comments, fmt.Sprintf("app key without a previous variable (%s_PREVIOUS): a token, with no overlap window;", c.name),
			"if the application accepts a fallback key, add that variable and switch to type app-key.")
	case c.prev != "":
		s.Type, s.Previous = kindAppKey, c.prev
	}
	f.settle(s)
	if s.Rotation == config.RotationGenerated {
		s.comments = append(s.comments, kindComment(c.name, g)...)
	} else if g.Bootstrap { // no server advice for a value rekey does not make
		s.comments = append(s.comments, bootstrapComment(c.name, g.Kind)...)
	}
	f.varHidden(s, c, g, uses)
	return s
}

// varHidden reports what a variable's secret hides: several services reading it, files that disagree on
// its value, a password the database reads only at initialisation.
func (f *finder) varHidden(s *Secret, c candidate, g guess, uses []composeio.VarUse) {
	if len(uses) > 1 {
		svcs := make([]string, len(uses))
		for i, u := range uses {
			svcs[i] = u.Service
		}
		note := fmt.Sprintf("%s reaches %d services (%s): they pick up a new value one at a time", c.name, len(svcs), strings.Join(svcs, ", "))
		if s.Type == kindToken {
			note += "; a token has no overlap window"
		}
		f.rep.Hidden = append(f.rep.Hidden, Hidden{Kind: report.HiddenShared, Secret: s.Name, Note: note})
	}
	if c.diverged {
		f.rep.Hidden = append(f.rep.Hidden, Hidden{Kind: HiddenDiverged, Secret: s.Name, Note: fmt.Sprintf(
			"%s has different values in %s; the values file holds the one in %s, and the first apply writes it everywhere",
			c.name, strings.Join(c.sources, ", "), c.sources[0])})
	}
	if s.Bootstrap {
		f.rep.Hidden = append(f.rep.Hidden, Hidden{Kind: HiddenBootstrap, Secret: s.Name, Note: fmt.Sprintf(
			"%s is read by the %s image only when it initialises an empty data directory: a rotation changes the variable, not the database's password; change the password in the database first, in the same change", c.name, g.Kind)})
	}
}

// composeSecrets proposes the top-level compose secrets with file:.
func (f *finder) composeSecrets(ctx context.Context) ([]*Secret, error) {
	var out []*Secret
	tp := f.p.Types()
	for _, name := range slices.Sorted(maps.Keys(tp.Secrets)) {
		sc := tp.Secrets[name]
		if bool(sc.External) || sc.File == "" {
			continue
		}
		path := sc.File
		if !filepath.IsAbs(path) {
			path = filepath.Join(f.p.Dir(), path)
		}
		fi, err := os.Stat(path)
		if err != nil || !fi.Mode().IsRegular() || fi.Size() > scanMaxSize {
			f.rep.Skipped = append(f.rep.Skipped, Skip{Name: "secret " + name, Reason: fmt.Sprintf("%s is missing, not a regular file, or larger than 1 MiB", path)})
			continue
		}
		v, err := live.Files{}.ReadValue(ctx, reconcile.Location{Path: path})
		if err != nil {
			return nil, err
		}
		if v == "" {
			f.rep.Skipped = append(f.rep.Skipped, Skip{Name: "secret " + name, Reason: path + " is empty"})
			continue
		}
		if identifierFile(name, v) {
			f.rep.Skipped = append(f.rep.Skipped, Skip{Name: "secret " + name, Reason: "it holds a short identifier (a user or database name), not a credential"})
			continue
		}
		f.values = append(f.values, v)
		s, err := f.composeSecret(name, path, v)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (f *finder) composeSecret(name, path, value string) (*Secret, error) {
	fileUses, err := f.p.ConsumersOfFile(path)
	if err != nil {
		return nil, err
	}
	rel := path
	if r, ok := within(f.p.Dir(), path); ok {
		rel = r
	}
	s := &Secret{Name: secretNameFor(name, f.names), Type: kindToken, Kind: fileKind(name), Why: "compose secret", File: rel,
		value: value, Sources: []string{path}, Consumers: []string{}}
	f.settle(s)
	for _, u := range fileUses {
		s.Consumers = append(s.Consumers, fmt.Sprintf("%s (%s:%s)", u.Service, u.Kind, u.Target))
		if u.Kind == composeio.KindBindFile {
			f.rep.Hidden = append(f.rep.Hidden, Hidden{Kind: report.HiddenBindFile, Secret: s.Name, Note: fmt.Sprintf(
				"%s mounts %s as a single-file bind mount at %s: it follows the inode, so a tool that replaces the file (mv, most editors) leaves %s on the old content",
				u.Service, path, u.Target, u.Service)})
		}
	}
	return s, nil
}

// embedded reports one candidate's value inside another's (DATABASE_URL holding POSTGRES_PASSWORD's value).
func embedded(secrets []*Secret, rep *Report) {
	for _, a := range secrets {
		for _, b := range secrets {
			if a != b && len(a.value) >= 8 && !redact.CommonWord(a.value) && strings.Contains(b.value, a.value) {
				rep.Hidden = append(rep.Hidden, Hidden{Kind: HiddenEmbedded, Secret: a.Name, Note: fmt.Sprintf(
					"the value of %s is also part of %s: rekey rotates them separately, so rotate both in one commit (and in the server)", a.Name, b.Name)})
			}
		}
	}
}
