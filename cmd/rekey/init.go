package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"filippo.io/age"
	"go.yaml.in/yaml/v3"

	"github.com/rekeyhq/rekey/composeio"
	"github.com/rekeyhq/rekey/config"
	"github.com/rekeyhq/rekey/engine"
	"github.com/rekeyhq/rekey/envfile"
	"github.com/rekeyhq/rekey/internal/redact"
	"github.com/rekeyhq/rekey/live"
	"github.com/rekeyhq/rekey/reconcile"
	"github.com/rekeyhq/rekey/sopsio"
)

// initValuesFile is the values file `rekey init` writes.
const initValuesFile = "secrets.sops.yaml"

// Kinds of hidden dependency only `rekey init` reports (the others are shared with inventory).
const (
	hiddenBootstrap = "bootstrap-only"     // the server reads it once, at initialisation
	hiddenLiteral   = "literal-in-compose" // a credential written in plain text in a compose file
	hiddenDerived   = "derived-variable"   // an assignment built from another variable
	hiddenEmbedded  = "embedded-value"     // one candidate's value is part of another's
	hiddenDiverged  = "diverged-values"    // the files assigning a variable disagree
)

type initOptions struct {
	projectDir, projectName, out, output, genKey string
	recipients, scans, files                     []string
}

// initSecret is one secret `rekey init` proposes.
type initSecret struct {
	Name      string   `json:"name"`
	Type      string   `json:"type"` // token or app-key: what rekey.yaml says
	Kind      string   `json:"kind"` // what init guessed: postgres, mysql, redis, smtp, mongodb, app-key, token
	Bootstrap bool     `json:"bootstrap_only,omitempty"`
	Why       string   `json:"why"` // name, URL with a password, high-entropy value, compose secret
	Var       string   `json:"var,omitempty"`
	Previous  string   `json:"previous,omitempty"`
	File      string   `json:"file,omitempty"`
	Sources   []string `json:"sources"`
	Consumers []string `json:"consumers"`
	HostFiles []string `json:"host_files,omitempty"` // proposed host_file consumers

	value    string
	comments []string
	hostKeys []hostRef
}

type initSkip struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

type initHidden struct {
	Kind   string `json:"kind"`
	Secret string `json:"secret,omitempty"`
	Note   string `json:"note"`
}

type initReport struct {
	Project    string `json:"project"`
	ProjectDir string `json:"project_dir"`
	// ComposeFiles are the compose files chosen with --file (written to rekey.yaml as compose.files).
	ComposeFiles []string      `json:"compose_files,omitempty"`
	Out          string        `json:"out"`
	Files        []string      `json:"files"`
	Recipients   []string      `json:"recipients"`
	AgeKeyFile   string        `json:"age_key_file,omitempty"`
	Secrets      []*initSecret `json:"secrets"`
	Skipped      []initSkip    `json:"skipped"`
	Hidden       []initHidden  `json:"hidden"`
	HostFiles    []hostRef     `json:"host_files"`
	ScanNotes    []string      `json:"scan_notes,omitempty"`
	NextSteps    []string      `json:"next_steps"`
}

type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

func cmdInit(ctx context.Context, args []string, e env) error {
	var o initOptions
	fs := flag.NewFlagSet("rekey init", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.StringVar(&o.projectDir, "project-dir", ".", "the Compose project directory to read (never modified)")
	fs.StringVar(&o.projectName, "project-name", "", "the name the stack runs under (default: as compose decides)")
	fs.Var((*stringsFlag)(&o.files), "file", "compose file, relative to the project directory (repeatable, in override order; default: COMPOSE_FILE in .env, else compose's default names); written to rekey.yaml as compose.files")
	fs.StringVar(&o.out, "out", "", "new directory for rekey.yaml, .sops.yaml and secrets.sops.yaml (required; must not exist or be empty)")
	fs.Var((*stringsFlag)(&o.recipients), "age-recipient", "age public key (age1…) to encrypt the values to (repeatable)")
	fs.StringVar(&o.genKey, "generate-age-key", "", "generate a new age identity into FILE (0600, never overwritten) and encrypt to it")
	fs.Var((*stringsFlag)(&o.scans), "scan", "file or directory of host files to search for the secrets (repeatable), e.g. /etc/cron.d")
	fs.StringVar(&o.output, "output", "text", "report format: text or json")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return &codeError{code: exitOK}
		}
		return &codeError{code: exitUsage}
	}
	if fs.NArg() > 0 {
		return usageError("unexpected argument %q", fs.Arg(0))
	}
	if err := o.check(); err != nil {
		return err
	}
	rep, values, err := runInit(ctx, &o)
	red := redact.New(values...)
	if err != nil {
		return red.Error(err)
	}
	var b bytes.Buffer
	if o.output == "json" {
		if err := writeJSON(&b, rep); err != nil {
			return err
		}
	} else {
		printInit(&b, rep)
	}
	// Nothing in the report holds a value; the redactor is a second line of defence.
	_, err = io.WriteString(e.stdout, red.String(b.String()))
	return err
}

// check validates the flags before anything is read or written.
func (o *initOptions) check() error {
	if o.output != "text" && o.output != "json" {
		return usageError("--output must be text or json, got %q", o.output)
	}
	if o.out == "" {
		return usageError("--out DIR is required: the new directory to write rekey.yaml, .sops.yaml and %s into", initValuesFile)
	}
	if len(o.recipients) == 0 && o.genKey == "" {
		return usageError("pass --age-recipient age1… (repeatable) or --generate-age-key FILE: the values must be encrypted to someone")
	}
	for _, r := range o.recipients {
		if err := checkAgeRecipient(r); err != nil {
			return usageError("--age-recipient: %v", err)
		}
	}
	var err error
	if o.out, err = filepath.Abs(o.out); err != nil {
		return err
	}
	if o.projectDir, err = filepath.Abs(o.projectDir); err != nil {
		return err
	}
	switch fi, err := os.Stat(o.out); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("--out %s exists and is not a directory", o.out)
	default:
		if ents, err := os.ReadDir(o.out); err != nil || len(ents) > 0 {
			return fmt.Errorf("--out %s exists and is not empty: rekey init only writes a new repository", o.out)
		}
	}
	if _, inside := within(o.projectDir, o.out); inside || o.out == o.projectDir {
		return fmt.Errorf("--out %s is inside the project directory %s: rekey init never writes into the stack", o.out, o.projectDir)
	}
	if o.genKey != "" {
		if o.genKey, err = filepath.Abs(o.genKey); err != nil {
			return err
		}
		if _, err := os.Lstat(o.genKey); err == nil {
			return fmt.Errorf("--generate-age-key %s already exists: rekey init never overwrites a key", o.genKey)
		}
		for _, dir := range []string{o.out, o.projectDir} {
			if _, inside := within(dir, o.genKey); inside {
				return fmt.Errorf("--generate-age-key %s is inside %s: keep the key out of the repository and the stack", o.genKey, dir)
			}
		}
		if fi, err := os.Stat(filepath.Dir(o.genKey)); err != nil || !fi.IsDir() {
			return fmt.Errorf("--generate-age-key %s: directory %s does not exist", o.genKey, filepath.Dir(o.genKey))
		}
	}
	return nil
}

func checkAgeRecipient(r string) error {
	if _, err := age.ParseX25519Recipient(r); err == nil {
		return nil
	}
	if strings.HasPrefix(r, "age1pq1") {
		if _, err := age.ParseHybridRecipient(r); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%q is not an age public key (want age1…; plugin and SSH recipients are not supported)", r)
}

// within reports whether path is strictly inside dir.
func within(dir, path string) (string, bool) {
	rel, err := filepath.Rel(dir, path)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	return rel, true
}

// runInit reads the stack, writes the new repository and returns the report and every value it saw
// (for the redactor).
func runInit(ctx context.Context, o *initOptions) (initReport, []string, error) {
	var opts []composeio.Option
	if o.projectName != "" {
		opts = append(opts, composeio.WithProjectName(o.projectName))
	}
	if len(o.files) > 0 {
		opts = append(opts, composeio.WithFiles(o.files...))
	}
	p, err := composeio.Load(ctx, o.projectDir, opts...)
	if err != nil {
		return initReport{}, nil, err
	}
	rep := initReport{Project: p.Name(), ProjectDir: p.Dir(), Out: o.out, Skipped: []initSkip{}, Hidden: []initHidden{}, HostFiles: []hostRef{}}
	if len(o.files) > 0 {
		rep.ComposeFiles = p.Files()
	}
	secrets, values, err := discover(ctx, p, &rep)
	if err != nil {
		return rep, values, err
	}
	if len(o.scans) > 0 {
		if err := scanHost(o.scans, secrets, &rep); err != nil {
			return rep, values, err
		}
	}
	literalInCompose(p, secrets, &rep)

	var id *age.X25519Identity
	recipients := slices.Clone(o.recipients)
	if o.genKey != "" {
		if id, err = age.GenerateX25519Identity(); err != nil {
			return rep, values, err
		}
		recipients = append(recipients, id.Recipient().String())
	}
	rep.Recipients = recipients

	secrets, err = validate(ctx, p, secrets, &rep)
	if err != nil {
		return rep, values, err
	}
	if len(secrets) == 0 {
		return rep, values, fmt.Errorf("found no secret to manage in %s (looked at .env, env_files and compose secrets with file:)", p.Dir())
	}
	rep.Secrets = secrets
	files, err := initFiles(p, secrets, recipients, rep.ComposeFiles)
	if err != nil {
		return rep, values, err
	}
	if id != nil {
		if err := writeAgeKey(o.genKey, id); err != nil {
			return rep, values, err
		}
		rep.AgeKeyFile = o.genKey
	}
	if err := writeOut(o.out, files); err != nil {
		if id != nil {
			os.Remove(o.genKey)
		}
		return rep, values, err
	}
	for _, f := range slices.Sorted(maps.Keys(files)) {
		rep.Files = append(rep.Files, filepath.Join(o.out, f))
	}
	rep.NextSteps = nextSteps(o, rep)
	return rep, values, nil
}

// discover finds the candidate secrets of the project: variables assigned in .env and env_files, and
// compose secrets with file:. Values stay in memory; the second result lists them for the redactor.
func discover(ctx context.Context, p *composeio.Project, rep *initReport) ([]*initSecret, []string, error) {
	var all []string
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
	var composeText []byte
	for _, f := range p.Files() {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, err
		}
		composeText = append(composeText, data...)
	}
	known := func(v string) bool {
		return assigned[v] || bytes.Contains(composeText, []byte("${"+v)) || bytes.Contains(composeText, []byte("$"+v))
	}

	type cand struct {
		name, value, why, prev string
		sources                []string
		diverged               bool
	}
	var cands []cand
	siblings := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(assigned)) {
		c := cand{name: name}
		derived := false
		var vals []string
		for i, src := range p.VarSources(name) {
			v, err := live.Files{}.ReadValue(ctx, reconcile.Location{Path: src.Path, Key: name})
			if err != nil {
				return nil, all, err
			}
			if v != "" {
				vals = append(vals, v)
			}
			if i == 0 {
				c.value = v
			} else if v != c.value {
				c.diverged = true
			}
			c.sources = append(c.sources, src.Path)
			derived = derived || derivedLine(raw[src.Path], name)
		}
		ok, why := candidateVar(name, c.value)
		// Only credentials' values are hidden from the report: hiding every value (a user name "postgres",
		// a count "1", the project name) would mangle the report and the commands it prints.
		if ok || isPreviousName(name) {
			all = append(all, vals...)
		}
		// A reference to a variable of another file reads as "" (or a URL without a password), so a
		// derived credential is judged by its name as well as by its value.
		if !ok && !(derived && (secretName(name) || urlName(name))) {
			continue
		}
		if derived {
			rep.Skipped = append(rep.Skipped, initSkip{Name: name, Reason: "its assignment refers to another variable; rekey would replace the reference with a literal"})
			rep.Hidden = append(rep.Hidden, initHidden{Kind: hiddenDerived, Note: fmt.Sprintf(
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
	cands = slices.DeleteFunc(cands, func(c cand) bool { return siblings[c.name] })

	vars := []string{}
	for _, c := range cands {
		vars = append(vars, c.name)
		if c.prev != "" {
			vars = append(vars, c.prev)
		}
	}
	uses, err := p.ConsumersOfVars(ctx, vars)
	if err != nil {
		return nil, all, fmt.Errorf("failed to find the consumers of the candidate variables: %w", err)
	}
	names := map[string]bool{}
	var out []*initSecret
	for _, c := range cands {
		s := &initSecret{Name: secretNameFor(c.name, names), Var: c.name, Why: c.why, value: c.value, Sources: c.sources, Consumers: []string{}}
		var images []string
		viaCommand := false
		for _, u := range uses[c.name] {
			s.Consumers = append(s.Consumers, fmt.Sprintf("%s (%s)", u.Service, strings.Join(u.Via, ", ")))
			images = append(images, p.Types().Services[u.Service].Image)
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
		s.comments = append(s.comments, kindComment(c.name, g)...)
		if len(uses[c.name]) > 1 {
			svcs := make([]string, len(uses[c.name]))
			for i, u := range uses[c.name] {
				svcs[i] = u.Service
			}
			note := fmt.Sprintf("%s reaches %d services (%s): they pick up a new value one at a time", c.name, len(svcs), strings.Join(svcs, ", "))
			if s.Type == kindToken {
				note += "; a token has no overlap window"
			}
			rep.Hidden = append(rep.Hidden, initHidden{Kind: hiddenShared, Secret: s.Name, Note: note})
		}
		if c.diverged {
			rep.Hidden = append(rep.Hidden, initHidden{Kind: hiddenDiverged, Secret: s.Name, Note: fmt.Sprintf(
				"%s has different values in %s; the values file holds the one in %s, and the first apply writes it everywhere",
				c.name, strings.Join(c.sources, ", "), c.sources[0])})
		}
		if s.Bootstrap {
			rep.Hidden = append(rep.Hidden, initHidden{Kind: hiddenBootstrap, Secret: s.Name, Note: fmt.Sprintf(
				"%s is read by the %s image only when it initialises an empty data directory: a rotation changes the variable, not the database's password; change the password in the database first, in the same change", c.name, g.Kind)})
		}
		out = append(out, s)
	}

	// Top-level compose secrets with file:.
	tp := p.Types()
	for _, name := range slices.Sorted(maps.Keys(tp.Secrets)) {
		sc := tp.Secrets[name]
		if bool(sc.External) || sc.File == "" {
			continue
		}
		path := sc.File
		if !filepath.IsAbs(path) {
			path = filepath.Join(p.Dir(), path)
		}
		fi, err := os.Stat(path)
		if err != nil || !fi.Mode().IsRegular() || fi.Size() > scanMaxSize {
			rep.Skipped = append(rep.Skipped, initSkip{Name: "secret " + name, Reason: fmt.Sprintf("%s is missing, not a regular file, or larger than 1 MiB", path)})
			continue
		}
		v, err := live.Files{}.ReadValue(ctx, reconcile.Location{Path: path})
		if err != nil {
			return nil, all, err
		}
		all = append(all, v)
		if v == "" {
			rep.Skipped = append(rep.Skipped, initSkip{Name: "secret " + name, Reason: path + " is empty"})
			continue
		}
		fileUses, err := p.ConsumersOfFile(path)
		if err != nil {
			return nil, all, err
		}
		rel := path
		if r, ok := within(p.Dir(), path); ok {
			rel = r
		}
		s := &initSecret{Name: secretNameFor(name, names), Type: kindToken, Kind: kindToken, Why: "compose secret", File: rel,
			value: v, Sources: []string{path}, Consumers: []string{}}
		for _, u := range fileUses {
			s.Consumers = append(s.Consumers, fmt.Sprintf("%s (%s:%s)", u.Service, u.Kind, u.Target))
			if u.Kind == composeio.KindBindFile {
				rep.Hidden = append(rep.Hidden, initHidden{Kind: hiddenBindFile, Secret: s.Name, Note: fmt.Sprintf(
					"%s mounts %s as a single-file bind mount at %s: it follows the inode, so a tool that replaces the file (mv, most editors) leaves %s on the old content",
					u.Service, path, u.Target, u.Service)})
			}
		}
		out = append(out, s)
	}

	// One candidate's value inside another's (DATABASE_URL holding POSTGRES_PASSWORD's value).
	for _, a := range out {
		for _, b := range out {
			if a != b && len(a.value) >= 8 && strings.Contains(b.value, a.value) {
				rep.Hidden = append(rep.Hidden, initHidden{Kind: hiddenEmbedded, Secret: a.Name, Note: fmt.Sprintf(
					"the value of %s is also part of %s: rekey rotates them separately, so rotate both in one commit (and in the server)", a.Name, b.Name)})
			}
		}
	}
	return out, all, nil
}

// isPreviousName says a variable looks like the previous value of an app key (SESSION_SECRET_PREVIOUS).
func isPreviousName(name string) bool {
	return strings.HasSuffix(name, "_PREVIOUS") || strings.HasSuffix(name, "_OLD") || strings.HasSuffix(name, "_PREV")
}

// secretNameFor turns a variable or compose secret name into a unique secret name of rekey.yaml.
func secretNameFor(v string, used map[string]bool) string {
	b := []byte(strings.ToLower(v))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			b[i] = '-'
		}
	}
	name := strings.Trim(string(b), "-.")
	if name == "" {
		name = "secret"
	}
	if len(name) > 58 {
		name = name[:58]
	}
	base := name
	for i := 2; used[name]; i++ {
		name = fmt.Sprintf("%s-%d", base, i)
	}
	used[name] = true
	return name
}

// scanHost searches the --scan paths and attaches the host files that assign a secret's variable.
func scanHost(paths []string, secrets []*initSecret, rep *initReport) error {
	targets := make([]scanTarget, len(secrets))
	for i, s := range secrets {
		targets[i] = scanTarget{secret: s.Name, value: s.value}
		if s.Var != "" {
			targets[i].vars = []string{s.Var}
		}
	}
	refs, notes, err := scanPaths(paths, targets)
	if err != nil {
		return err
	}
	rep.ScanNotes = notes
	rep.HostFiles = append(rep.HostFiles, refs...)
	for _, r := range refs {
		s := secrets[slices.IndexFunc(secrets, func(s *initSecret) bool { return s.Name == r.Secret })]
		var what string
		switch {
		case r.Assigns && r.SameValue:
			what = fmt.Sprintf("assigns %s with the stack's value: proposed as a host_file consumer (key %s)", r.Var, r.Var)
		case r.Assigns:
			what = fmt.Sprintf("assigns %s with a different value: proposed as a host_file consumer (key %s); the first apply overwrites it", r.Var, r.Var)
		case r.Var != "" && r.Value:
			what = fmt.Sprintf("names %s and holds its value, but is not a dotenv file: rekey cannot write it, update it by hand", r.Var)
		case r.Var != "":
			what = fmt.Sprintf("names %s (it may read it from the environment or a file): check how it gets the value", r.Var)
		default:
			what = "holds the value in plain text: rekey cannot write it, update it by hand or make it read a file rekey manages"
		}
		rep.Hidden = append(rep.Hidden, initHidden{Kind: hiddenHostFile, Secret: s.Name, Note: fmt.Sprintf("host file %s %s", r.Path, what)})
		if r.Assigns && s.Var != "" {
			s.hostKeys = append(s.hostKeys, r)
			s.HostFiles = append(s.HostFiles, r.Path)
		}
	}
	return nil
}

// literalInCompose reports credentials written in plain text in the compose files: a candidate's value,
// and environment entries with a credential's name and no interpolation.
func literalInCompose(p *composeio.Project, secrets []*initSecret, rep *initReport) {
	for _, f := range p.Files() {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, s := range secrets {
			if len(s.value) >= 8 && bytes.Contains(data, []byte(s.value)) {
				rep.Hidden = append(rep.Hidden, initHidden{Kind: hiddenLiteral, Secret: s.Name, Note: fmt.Sprintf(
					"the value of %s appears in plain text in %s: rekey cannot rewrite it there; replace it with ${%s}", s.Name, f, orName(s.Var, "the variable"))})
			}
		}
		var doc struct {
			Services map[string]struct {
				Environment any `yaml:"environment"`
			} `yaml:"services"`
		}
		if yaml.Unmarshal(data, &doc) != nil {
			continue
		}
		for _, svc := range slices.Sorted(maps.Keys(doc.Services)) {
			for _, kv := range envEntries(doc.Services[svc].Environment) {
				name, val := kv[0], kv[1]
				if val == "" || strings.Contains(val, "$") {
					continue
				}
				if ok, _ := candidateVar(name, val); ok {
					rep.Hidden = append(rep.Hidden, initHidden{Kind: hiddenLiteral, Note: fmt.Sprintf(
						"service %s sets %s to a literal in %s: rekey cannot manage it there; move it to .env and write %s: ${%s}", svc, name, f, name, name)})
				}
			}
		}
	}
}

func orName(v, alt string) string {
	if v == "" {
		return alt
	}
	return v
}

// envEntries reads a raw `environment:` (a map or a list of NAME=value) as name/value pairs.
func envEntries(v any) [][2]string {
	var out [][2]string
	switch env := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(env)) {
			if env[k] != nil {
				out = append(out, [2]string{k, fmt.Sprint(env[k])})
			}
		}
	case []any:
		for _, e := range env {
			if s, ok := e.(string); ok {
				if k, val, ok := strings.Cut(s, "="); ok {
					out = append(out, [2]string{k, val})
				}
			}
		}
	}
	return out
}

// validate checks the proposal with the same code plan uses: config.Parse, then engine.Build. Secrets
// the engine refuses (no consumer, a value an env file cannot carry…) are left out and reported.
func validate(ctx context.Context, p *composeio.Project, secrets []*initSecret, rep *initReport) ([]*initSecret, error) {
	for _, s := range secrets {
		if s.Var != "" && (strings.ContainsRune(s.value, 0) || !utf8.ValidString(s.value)) {
			rep.Skipped = append(rep.Skipped, initSkip{Name: s.Name, Reason: "its value holds a NUL byte or invalid UTF-8"})
		}
	}
	secrets = slices.DeleteFunc(secrets, func(s *initSecret) bool {
		return slices.ContainsFunc(rep.Skipped, func(k initSkip) bool { return k.Name == s.Name })
	})
	if len(secrets) == 0 {
		return nil, nil
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	fp := func(v string) string {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(v))
		return "hmac:" + hex.EncodeToString(m.Sum(nil))[:16]
	}
	build := func(secrets []*initSecret, skip func(string, error)) error {
		cfg, err := config.Parse(configFile, rekeyYAML(p, secrets, rep.ComposeFiles))
		if err != nil {
			return fmt.Errorf("rekey init wrote an invalid rekey.yaml (a bug): %w", err)
		}
		values := map[string]string{}
		for _, s := range secrets {
			values[s.Name] = s.value
		}
		_, err = engine.Build(ctx, engine.Input{Config: cfg, Project: p, Values: values, FP: fp, Revision: "init", Skip: skip})
		return err
	}
	var bad []initSkip
	if err := build(secrets, func(name string, err error) {
		bad = append(bad, initSkip{Name: name, Reason: lineRef.ReplaceAllString(err.Error(), "")})
	}); err != nil {
		return nil, err
	}
	rep.Skipped = append(rep.Skipped, bad...)
	secrets = slices.DeleteFunc(secrets, func(s *initSecret) bool {
		return slices.ContainsFunc(bad, func(k initSkip) bool { return k.Name == s.Name })
	})
	if len(secrets) == 0 {
		return nil, nil
	}
	if err := build(secrets, nil); err != nil {
		return nil, fmt.Errorf("rekey init wrote a rekey.yaml the engine refuses (a bug): %w", err)
	}
	return secrets, nil
}

// lineRef is the rekey.yaml:LINE prefix of the engine's errors: the lines of a file the reader has not seen.
var lineRef = regexp.MustCompile(`^rekey\.yaml:\d+: `)

// rekeyYAML writes rekey.yaml with a comment for every guess.
func rekeyYAML(p *composeio.Project, secrets []*initSecret, files []string) []byte {
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by `rekey init` from %s. Review every secret before the first `rekey apply`.\n", p.Dir())
	b.WriteString("version: 1\ncompose:\n")
	fmt.Fprintf(&b, "  project_dir: %s\n  project_name: %s\n", q(p.Dir()), q(p.Name()))
	if len(files) > 0 { // chosen with --file: plan and apply must read the same ones
		quoted := make([]string, len(files))
		for i, f := range files {
			quoted[i] = q(f)
		}
		fmt.Fprintf(&b, "  files: [%s]\n", strings.Join(quoted, ", "))
	}
	fmt.Fprintf(&b, "values: %s\n\nsecrets:\n", initValuesFile)
	for i, s := range secrets {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "  # found by %s; consumers: %s\n", s.Why, orName(strings.Join(consumerNames(s.Consumers), ", "), "(none in compose)"))
		for _, c := range s.comments {
			fmt.Fprintf(&b, "  # %s\n", c)
		}
		fmt.Fprintf(&b, "  %s:\n    type: %s\n", s.Name, s.Type)
		switch {
		case s.Type == kindAppKey:
			fmt.Fprintf(&b, "    env: {current: %s, previous: %s}\n", s.Var, s.Previous)
		case s.Var != "":
			fmt.Fprintf(&b, "    env: {value: %s}\n", s.Var)
		}
		if s.File != "" {
			fmt.Fprintf(&b, "    file: %s\n", q(s.File))
		}
		if len(s.hostKeys) > 0 {
			b.WriteString("    consumers:\n")
			for _, h := range s.hostKeys {
				fmt.Fprintf(&b, "      - host_file: %s\n        key: %s\n", q(h.Path), h.Var)
			}
		}
	}
	writeVerify(&b, p)
	return []byte(b.String())
}

// authFailures are what the usual servers and clients log when a credential is refused: a rolled
// consumer logging one of them fails the rotation, which then rolls back.
// Generic words such as "Unauthorized" are left out: access logs print them for every stray request.
var authFailures = []string{"password authentication failed", "Access denied for user", "WRONGPASS", "NOAUTH"}

// writeVerify proposes the checks run after every roll: a scan of the rolled consumers' logs for refused
// credentials, and, as comments, an HTTP check for each port the stack publishes (rekey cannot know which
// path proves the app works).
func writeVerify(b *strings.Builder, p *composeio.Project) {
	b.WriteString("\n# Checks run after every consumer rolls; a failure rolls the rotation back. Add the requests that\n")
	b.WriteString("# prove your app works with the new value (a login, a queued job, an email).\nverify:\n")
	quoted := make([]string, len(authFailures))
	for i, s := range authFailures {
		quoted[i] = strconv.Quote(s)
	}
	fmt.Fprintf(b, "  - logs: {deny: [%s]}\n", strings.Join(quoted, ", "))
	for _, name := range p.Services() {
		for _, port := range p.Types().Services[name].Ports {
			if port.Published == "" || port.Protocol == "udp" {
				continue
			}
			host := port.HostIP
			if host == "" || host == "0.0.0.0" || host == "::" {
				host = "127.0.0.1"
			}
			fmt.Fprintf(b, "  # - http: {url: \"http://%s/\", status: 200}   # %s publishes %d\n",
				net.JoinHostPort(host, port.Published), name, port.Target)
		}
	}
}

func consumerNames(cs []string) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i], _, _ = strings.Cut(c, " ")
	}
	return out
}

// initFiles renders the three files of the new repository.
func initFiles(p *composeio.Project, secrets []*initSecret, recipients, composeFiles []string) (map[string][]byte, error) {
	var sops strings.Builder
	sops.WriteString("# Written by `rekey init`: the age recipients of the values file. `rekey values set` encrypts to them.\n")
	sops.WriteString("creation_rules:\n  - path_regex: ^secrets\\.sops\\.yaml$\n    age:\n")
	for _, r := range recipients {
		fmt.Fprintf(&sops, "      - %s\n", r)
	}
	got, err := sopsio.RecipientsFor([]byte(sops.String()), "", initValuesFile)
	if err != nil || !slices.Equal(got, recipients) {
		return nil, fmt.Errorf("rekey init wrote a .sops.yaml it cannot read back (a bug): %v", err)
	}
	values := map[string]string{}
	for _, s := range secrets {
		values[s.Name] = s.value
	}
	plain, err := marshalValues(values, sopsio.FormatYAML)
	if err != nil {
		return nil, err
	}
	enc, err := sopsio.Encrypt(plain, sopsio.FormatYAML, recipients)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{
		configFile:     rekeyYAML(p, secrets, composeFiles),
		".sops.yaml":   []byte(sops.String()),
		initValuesFile: enc,
	}, nil
}

// writeAgeKey creates the identity file 0600; an existing file is never overwritten.
func writeAgeKey(path string, id *age.X25519Identity) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("failed to create the age key file: %w", err)
	}
	_, err = fmt.Fprintf(f, "# created: %s by rekey init\n# public key: %s\n%s\n", time.Now().UTC().Format(time.RFC3339), id.Recipient(), id)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("failed to write the age key file: %w", err)
	}
	return nil
}

// writeOut creates the output directory (or fills the empty one) and writes the files.
func writeOut(dir string, files map[string][]byte) error {
	created := false
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		created = true
	}
	written := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			written[name] = true // ours to remove if a later one fails; a file that was there is not
			_, err = f.Write(files[name])
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			for n := range written {
				os.Remove(filepath.Join(dir, n))
			}
			if created {
				os.Remove(dir)
			}
			return fmt.Errorf("failed to write %s: %w", filepath.Join(dir, name), err)
		}
	}
	return nil
}

func nextSteps(o *initOptions, rep initReport) []string {
	key := "--age-key-file KEYFILE"
	if rep.AgeKeyFile != "" {
		key = "--age-key-file " + rep.AgeKeyFile
	}
	return []string{
		"review " + filepath.Join(o.out, configFile) + ": the comments say what was guessed",
		fmt.Sprintf("git -C %s init && git -C %s add -A && git -C %s commit -m 'rekey: initial desired state'", o.out, o.out, o.out),
		fmt.Sprintf("rekey plan --repo %s %s   (every secret should be in-sync)", o.out, key),
	}
}

// printInit writes the text report.
func printInit(w io.Writer, rep initReport) {
	fmt.Fprintf(w, "compose project %s in %s\n", rep.Project, rep.ProjectDir)
	fmt.Fprintf(w, "wrote %s (%d secrets, values encrypted to %d recipient(s))\n", strings.Join(rep.Files, ", "), len(rep.Secrets), len(rep.Recipients))
	fmt.Fprintln(w, "\nsecrets:")
	for _, s := range rep.Secrets {
		where := s.Var
		if s.Previous != "" {
			where += " + " + s.Previous
		}
		if s.File != "" {
			where = s.File
		}
		kind := s.Kind
		if s.Bootstrap {
			kind += ", BOOTSTRAP-ONLY"
		}
		fmt.Fprintf(w, "  %s  type %s (%s; found by %s)\n", s.Name, s.Type, kind, s.Why)
		fmt.Fprintf(w, "    lives in: %s at %s\n", where, strings.Join(s.Sources, ", "))
		fmt.Fprintf(w, "    consumers: %s\n", orName(strings.Join(s.Consumers, "; "), "(none in compose)"))
		for _, h := range s.HostFiles {
			fmt.Fprintf(w, "    host file: %s (key %s)\n", h, s.Var)
		}
	}
	if len(rep.Skipped) > 0 {
		fmt.Fprintln(w, "\nleft out:")
		for _, k := range rep.Skipped {
			fmt.Fprintf(w, "  - %s: %s\n", k.Name, k.Reason)
		}
	}
	if len(rep.Hidden) > 0 {
		fmt.Fprintln(w, "\nhidden dependencies:")
		for _, h := range rep.Hidden {
			if h.Secret != "" && !strings.Contains(h.Note, h.Secret) {
				fmt.Fprintf(w, "  - %s (%s): %s\n", h.Kind, h.Secret, h.Note)
				continue
			}
			fmt.Fprintf(w, "  - %s: %s\n", h.Kind, h.Note)
		}
	}
	for _, n := range rep.ScanNotes {
		fmt.Fprintf(w, "scan: %s\n", n)
	}
	if rep.AgeKeyFile != "" {
		fmt.Fprintf(w, "\nnew age identity: %s (public key %s)\n", rep.AgeKeyFile, rep.Recipients[len(rep.Recipients)-1])
		fmt.Fprintln(w, "  This key decrypts every value. Do NOT commit it: keep it outside the repository, back it up offline")
		fmt.Fprintln(w, "  (a password manager or printed copy), and give it to rekey with --age-key-file (or $SOPS_AGE_KEY_FILE)")
		fmt.Fprintln(w, "  on the host that runs rekey. Losing it means the values file cannot be decrypted.")
	}
	fmt.Fprintln(w, "\nnext steps:")
	for i, s := range rep.NextSteps {
		fmt.Fprintf(w, "  %d. %s\n", i+1, s)
	}
}
