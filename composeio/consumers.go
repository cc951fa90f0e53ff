package composeio

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/big"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// VarUse is a service whose container changes when a variable changes, and how it uses the variable.
//
// Via entries, sorted:
//   - "interpolation:environment", "interpolation:command", "interpolation:entrypoint",
//     "interpolation:healthcheck", "interpolation:labels", "interpolation:other": the service's resolved
//     configuration changes in that part (this includes `environment: [NAME]` pass-through and `${NAME}`
//     inside env_file values, which compose resolves against the project environment);
//   - "secret:S", "config:C", "volume:V", "network:N": the definition of a top-level resource the service
//     uses changes (e.g. a secret with `environment: NAME`, or a config whose `content` interpolates NAME);
//   - "env_file:/abs/path": an env_file of the service assigns NAME directly.
type VarUse struct {
	Service string
	Via     []string
}

// VarSource is a file where a variable is assigned.
type VarSource struct {
	Path string // absolute
	Kind string // "dotenv" or "env_file"
}

// FileUse is a service that sees a host file.
type FileUse struct {
	Service string
	// Target is the path of the file inside the container ("" for env_file).
	Target string
	// Kind is "secret" or "config" (top-level secrets/configs with a `file:` source), "bind-file" (a bind
	// mount of the file itself: it follows the inode, so the file must be rewritten in place), "bind-dir" (a
	// bind mount of a directory containing it: renames are seen) or "env_file" (read when the container is
	// created).
	Kind string
}

const (
	KindDotenv  = "dotenv"
	KindEnvFile = "env_file"

	KindSecret   = "secret"
	KindConfig   = "config"
	KindBindFile = "bind-file"
	KindBindDir  = "bind-dir"
)

// interpolationAreas are the parts of a service reported by name; any other change is "other".
var interpolationAreas = []string{"environment", "command", "entrypoint", "healthcheck", "labels"}

// ConsumersOfVar returns the services whose configuration changes when variable name changes, sorted by
// service name. It reloads the project with name set to a random canary (a string; then, for variables
// compose casts or validates, a number, a duration and a boolean) and compares each service's resolved
// configuration, so interpolation anywhere in the service is covered; and it adds the services whose
// env_file assigns name.
// Only enabled services count (see WithProfiles). The probe reads the compose files and `.env` again, and is
// compared with the project Load returned only while every file that load read is unchanged (else with a
// fresh load), so that a file edited since Load cannot show up as a difference; env_file assignments are
// those read at Load.
func (p *Project) ConsumersOfVar(ctx context.Context, name string) ([]VarUse, error) {
	if err := checkVarName(name); err != nil {
		return nil, err
	}
	return withBase(ctx, p, func(base *types.Project) ([]VarUse, error) {
		return p.consumersOfVarAgainst(ctx, base, name)
	})
}

func (p *Project) consumersOfVarAgainst(ctx context.Context, base *types.Project, name string) ([]VarUse, error) {
	alt, err := p.loadCanary(ctx, base, name)
	if err != nil {
		return nil, err
	}
	uses := map[string]map[string]bool{}
	add := func(svc, via string) {
		if uses[svc] == nil {
			uses[svc] = map[string]bool{}
		}
		uses[svc][via] = true
	}

	changed, err := changedResources(base, alt)
	if err != nil {
		return nil, err
	}
	for _, svcName := range slices.Sorted(maps.Keys(base.Services)) {
		svc := base.Services[svcName]
		altSvc, ok := alt.Services[svcName]
		if !ok {
			add(svcName, "interpolation:other") // e.g. the variable selects profiles
		} else {
			areas, err := diffService(svc, altSvc)
			if err != nil {
				return nil, err
			}
			for _, a := range areas {
				add(svcName, "interpolation:"+a)
			}
		}
		for _, ref := range svc.Secrets {
			if changed["secret:"+ref.Source] {
				add(svcName, "secret:"+ref.Source)
			}
		}
		for _, ref := range svc.Configs {
			if changed["config:"+ref.Source] {
				add(svcName, "config:"+ref.Source)
			}
		}
		for _, v := range svc.Volumes {
			if v.Type == types.VolumeTypeVolume && changed["volume:"+v.Source] {
				add(svcName, "volume:"+v.Source)
			}
		}
		for n := range svc.Networks {
			if changed["network:"+n] {
				add(svcName, "network:"+n)
			}
		}
		for _, f := range serviceEnvFiles(svc) {
			if p.envFileVars[f][name] {
				add(svcName, "env_file:"+f)
			}
		}
	}

	out := make([]VarUse, 0, len(uses))
	for _, svc := range slices.Sorted(maps.Keys(uses)) {
		out = append(out, VarUse{Service: svc, Via: slices.Sorted(maps.Keys(uses[svc]))})
	}
	return out, nil
}

// Referenced reports whether any service consumes variable name (see ConsumersOfVar), so that the caller
// can fail with "variable NAME is not used by any service".
func (p *Project) Referenced(ctx context.Context, name string) (bool, error) {
	uses, err := p.ConsumersOfVar(ctx, name)
	if err != nil {
		return false, err
	}
	return len(uses) > 0, nil
}

// VarSources returns the files where variable name is assigned: the project `.env` first (kind "dotenv"),
// then every env_file of an enabled service, sorted by path (kind "env_file"). A bare `NAME` line or
// `NAME=${NAME}` passes the project value through and is not an assignment. The files are as they were at
// Load.
func (p *Project) VarSources(name string) []VarSource {
	var out []VarSource
	if p.dotenv != "" && p.dotenvVars[name] {
		out = append(out, VarSource{Path: p.dotenv, Kind: KindDotenv})
	}
	for _, f := range slices.Sorted(maps.Keys(p.envFileVars)) {
		if p.envFileVars[f][name] {
			out = append(out, VarSource{Path: f, Kind: KindEnvFile})
		}
	}
	return out
}

func checkVarName(name string) error {
	if name == "" || strings.ContainsAny(name, "= \t\n$") {
		return fmt.Errorf("invalid variable name %q", name)
	}
	return nil
}

// loadCanary reloads the project with name set to the first canary value compose-go accepts.
func (p *Project) loadCanary(ctx context.Context, base *types.Project, name string) (*types.Project, error) {
	var buf [12]byte
	if _, err := rand.Read(buf[:]); err != nil {
		return nil, fmt.Errorf("failed to generate canary: %w", err)
	}
	canaries := []string{"rekey-canary-" + hex.EncodeToString(buf[:])}
	current := base.Environment[name]
	// For variables compose casts or validates: a number (ports, sizes, counts), a duration, a boolean.
	for range 8 {
		n, err := rand.Int(rand.Reader, big.NewInt(40000))
		if err != nil {
			return nil, fmt.Errorf("failed to generate canary: %w", err)
		}
		num := strconv.FormatInt(20000+n.Int64(), 10)
		if num != current && num+"s" != current {
			canaries = append(canaries, num, num+"s")
			break
		}
	}
	if b, err := strconv.ParseBool(current); err == nil {
		canaries = append(canaries, strconv.FormatBool(!b))
	} else {
		canaries = append(canaries, "true")
	}
	var firstErr error
	for _, c := range canaries {
		alt, err := p.loadProbe(ctx, map[string]string{name: c})
		if err == nil {
			return alt, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, fmt.Errorf("failed to probe variable %s: %w", name, firstErr)
}

// diffService returns the parts of the service configuration that differ, sorted.
func diffService(a, b types.ServiceConfig) ([]string, error) {
	ma, err := fields(a)
	if err != nil {
		return nil, fmt.Errorf("failed to compare service %s: %w", a.Name, err)
	}
	mb, err := fields(b)
	if err != nil {
		return nil, fmt.Errorf("failed to compare service %s: %w", a.Name, err)
	}
	areas := map[string]bool{}
	for k := range ma {
		if !bytes.Equal(ma[k], mb[k]) {
			areas[area(k)] = true
		}
	}
	for k := range mb {
		if _, ok := ma[k]; !ok {
			areas[area(k)] = true
		}
	}
	if !equalExtensions(a.Extensions, b.Extensions) {
		areas["other"] = true
	}
	return slices.Sorted(maps.Keys(areas)), nil
}

func area(field string) string {
	if slices.Contains(interpolationAreas, field) {
		return field
	}
	return "other"
}

func fields(v any) (map[string]json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, errors.New("failed to marshal resolved configuration")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, errors.New("failed to unmarshal resolved configuration")
	}
	return m, nil
}

func equalExtensions(a, b types.Extensions) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

// changedResources returns the top-level secrets, configs, volumes and networks whose definition differs,
// as "secret:NAME", "config:NAME", "volume:NAME", "network:NAME".
func changedResources(a, b *types.Project) (map[string]bool, error) {
	changed := map[string]bool{}
	err := eachResource(a, b, func(key string, ja, jb []byte, inB bool) error {
		if !inB || !bytes.Equal(ja, jb) {
			changed[key] = true
		}
		return nil
	})
	return changed, err
}

// eachResource calls f with every top-level secret, config, volume and network of a, marshalled as it is
// in a and in b ("secret:NAME", …; inB false when b lacks it).
func eachResource(a, b *types.Project, f func(key string, ja, jb []byte, inB bool) error) error {
	cmp := func(key string, x, y any, inB bool) error {
		jx, errX := json.Marshal(x)
		jy, errY := json.Marshal(y)
		if errX != nil || errY != nil {
			// the marshal error could quote a value: it is not passed on
			return fmt.Errorf("failed to compare %s: cannot marshal the resolved definition", key)
		}
		return f(key, jx, jy, inB)
	}
	for n, s := range a.Secrets {
		// types.SecretConfig hides content resolved from `environment:` when marshalled: compare it too.
		o, ok := b.Secrets[n]
		if err := cmp("secret:"+n, types.FileObjectConfig(s), types.FileObjectConfig(o), ok); err != nil {
			return err
		}
	}
	for n, c := range a.Configs {
		o, ok := b.Configs[n]
		if err := cmp("config:"+n, types.FileObjectConfig(c), types.FileObjectConfig(o), ok); err != nil {
			return err
		}
	}
	for n, v := range a.Volumes {
		o, ok := b.Volumes[n]
		if err := cmp("volume:"+n, v, o, ok); err != nil {
			return err
		}
	}
	for n, nw := range a.Networks {
		o, ok := b.Networks[n]
		if err := cmp("network:"+n, nw, o, ok); err != nil {
			return err
		}
	}
	return nil
}

// ConsumersOfFile returns the services that see host file path (absolute, or relative to the project
// directory), sorted by service, kind and target. Paths are compared as written and with symlinks resolved.
// The symlinks of file are resolved on each call; those of the project's own paths (secret, config, bind and
// env_file sources) once per Project, the first time a call needs them: a link among them moved afterwards
// is not seen by that Project, as a compose file edited after Load is not.
func (p *Project) ConsumersOfFile(file string) ([]FileUse, error) {
	if file == "" {
		return nil, errors.New("empty file path")
	}
	if !filepath.IsAbs(file) {
		file = filepath.Join(p.dir, file)
	}
	file = filepath.Clean(file)
	isDir := false
	if fi, err := os.Stat(file); err == nil {
		isDir = fi.IsDir()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("failed to stat %s: %w", file, err)
	}
	canonFile := canonical(file)
	same := func(src string) bool { return src == file || p.canonical(src) == canonFile }

	var out []FileUse
	for _, name := range p.Services() {
		svc := p.p.Services[name]
		for _, ref := range svc.Secrets {
			s, ok := p.p.Secrets[ref.Source]
			if !ok || bool(s.External) || s.File == "" || !same(p.abs(s.File)) {
				continue
			}
			out = append(out, FileUse{Service: name, Target: secretTarget(ref), Kind: KindSecret})
		}
		for _, ref := range svc.Configs {
			c, ok := p.p.Configs[ref.Source]
			if !ok || bool(c.External) || c.File == "" || !same(p.abs(c.File)) {
				continue
			}
			out = append(out, FileUse{Service: name, Target: configTarget(ref), Kind: KindConfig})
		}
		for _, v := range svc.Volumes {
			if v.Type != types.VolumeTypeBind || v.Source == "" {
				continue
			}
			src := p.abs(v.Source)
			if same(src) {
				kind := KindBindFile
				if isDir {
					kind = KindBindDir
				}
				out = append(out, FileUse{Service: name, Target: v.Target, Kind: kind})
				continue
			}
			if rel, ok := within(src, file, p.canonical(src), canonFile); ok {
				out = append(out, FileUse{Service: name, Target: path.Join(v.Target, filepath.ToSlash(rel)), Kind: KindBindDir})
			}
		}
		for _, f := range serviceEnvFiles(svc) {
			if same(f) {
				out = append(out, FileUse{Service: name, Kind: KindEnvFile})
			}
		}
	}
	slices.SortFunc(out, func(a, b FileUse) int {
		return strings.Compare(a.Service+"\x00"+a.Kind+"\x00"+a.Target, b.Service+"\x00"+b.Kind+"\x00"+b.Target)
	})
	return slices.Compact(out), nil
}

// canonical is canonical(src) for one of the project's own paths, resolved once per Project: a large project
// asks about every file secret, and resolving every source path for each took most of ConsumersOfFile.
func (p *Project) canonical(src string) string {
	p.canonMu.Lock()
	defer p.canonMu.Unlock()
	c, ok := p.canon[src]
	if !ok {
		if p.canon == nil {
			p.canon = map[string]string{}
		}
		c = canonical(src)
		p.canon[src] = c
	}
	return c
}

func (p *Project) abs(f string) string {
	if !filepath.IsAbs(f) {
		f = filepath.Join(p.dir, f)
	}
	return filepath.Clean(f)
}

func secretTarget(ref types.ServiceSecretConfig) string {
	switch {
	case ref.Target == "":
		return "/run/secrets/" + ref.Source
	case path.IsAbs(ref.Target):
		return ref.Target
	default:
		return "/run/secrets/" + ref.Target
	}
}

func configTarget(ref types.ServiceConfigObjConfig) string {
	if ref.Target == "" {
		return "/" + ref.Source
	}
	return path.Join("/", ref.Target)
}

// within reports whether file is inside dir, as written or with symlinks resolved (canonDir, canonFile),
// and its path relative to dir.
func within(dir, file, canonDir, canonFile string) (string, bool) {
	for _, pair := range [][2]string{{dir, file}, {canonDir, canonFile}} {
		rel, err := filepath.Rel(pair[0], pair[1])
		if err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return rel, true
		}
	}
	return "", false
}

// canonical resolves symlinks as far as the path exists.
func canonical(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	dir, base := filepath.Split(p)
	dir = filepath.Clean(dir)
	if dir == p || base == "" {
		return p
	}
	return filepath.Join(canonical(dir), base)
}

// serviceEnvFiles returns the absolute env_file paths of a service.
func serviceEnvFiles(svc types.ServiceConfig) []string {
	var out []string
	for _, f := range svc.EnvFiles {
		out = append(out, f.Path)
	}
	return out
}
