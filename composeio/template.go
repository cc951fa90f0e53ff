package composeio

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// Template is a resolved configuration value with holes where a variable's value goes, so that the value a
// container gets for any value of the variable can be computed without reloading the project (and without
// ever holding a real value in the template).
type Template struct {
	parts []string
}

// Expand fills the holes with value.
func (t Template) Expand(value string) string { return strings.Join(t.parts, value) }

// Container fields that are not environment variables, as keys of UsesOf's maps.
const (
	FieldCommand    = "$command"
	FieldEntrypoint = "$entrypoint"
)

// UsesOf returns, per service, the parts of its container configuration whose resolved value contains
// variable name: environment variables by name, and the command and entrypoint (FieldCommand,
// FieldEntrypoint, their arguments joined by NUL) — templated so that Expand(v) is what the container
// gets when name is v. Services that do not use the variable this way are absent. It reloads the project
// once with name set to a random canary; a variable compose validates (a port, a duration) cannot be
// probed this way and gives an error.
func (p *Project) UsesOf(ctx context.Context, name string) (map[string]map[string]Template, error) {
	if err := checkVarName(name); err != nil {
		return nil, err
	}
	var buf [16]byte
	if _, err := rand.Read(buf[:]); err != nil {
		return nil, fmt.Errorf("failed to generate canary: %w", err)
	}
	canary := "rekeycanary" + hex.EncodeToString(buf[:])
	base, err := p.load(ctx, nil)
	if err != nil {
		return nil, err
	}
	alt, err := p.load(ctx, map[string]string{name: canary})
	if err != nil {
		return nil, fmt.Errorf("failed to probe variable %s: %w", name, err)
	}
	out := map[string]map[string]Template{}
	for _, svcName := range slices.Sorted(maps.Keys(alt.Services)) {
		svc := alt.Services[svcName]
		uses := map[string]Template{}
		for k, v := range svc.Environment {
			if v != nil && strings.Contains(*v, canary) {
				uses[k] = Template{parts: strings.Split(*v, canary)}
			}
		}
		if joined := strings.Join(svc.Command, "\x00"); strings.Contains(joined, canary) {
			uses[FieldCommand] = Template{parts: strings.Split(joined, canary)}
		}
		if joined := strings.Join(svc.Entrypoint, "\x00"); strings.Contains(joined, canary) {
			uses[FieldEntrypoint] = Template{parts: strings.Split(joined, canary)}
		}
		now := containerFields(base.Services[svcName])
		for field, t := range uses {
			// A string command is split into words after interpolation: a value with a space lands in
			// several arguments, which no template can express.
			if v, set := base.Environment[name]; set && t.Expand(v) != now[field] {
				return nil, fmt.Errorf("variable %s reaches %s of service %s in a way rekey cannot compute (compose splits or transforms it)",
					name, fieldName(field), svcName)
			}
		}
		if len(uses) > 0 {
			out[svcName] = uses
		}
	}
	return out, nil
}

func fieldName(field string) string {
	switch field {
	case FieldCommand:
		return "the command"
	case FieldEntrypoint:
		return "the entrypoint"
	}
	return "environment variable " + field
}

// UsesOfAll is UsesOf for many variables with one load of the project (plus one per variable it cannot
// settle that way): every variable gets its own canary, and a value holding several (a URL with a user
// and a password) is templated per variable with the others' current values in place. A template is kept
// only if expanding it with the variable's current value gives the value compose resolves now; otherwise
// (a default that differs from unset, a validated field) that variable is probed on its own.
func (p *Project) UsesOfAll(ctx context.Context, names []string) (map[string]map[string]map[string]Template, error) {
	names = slices.Compact(slices.Sorted(slices.Values(names)))
	for _, n := range names {
		if err := checkVarName(n); err != nil {
			return nil, err
		}
	}
	out := map[string]map[string]map[string]Template{}
	base, err := p.load(ctx, nil)
	if err != nil {
		return nil, err
	}
	overrides, byCanary, err := canaries(names)
	if err != nil {
		return nil, err
	}
	alone := map[string]bool{}
	for _, n := range p.probeAlone(base, names) {
		alone[n] = true
		delete(overrides, n)
	}
	alt, err := p.load(ctx, overrides)
	if err != nil {
		for _, n := range names {
			alone[n] = true
		}
	} else {
		for _, n := range names {
			out[n] = map[string]map[string]Template{}
		}
		for svcName, svc := range alt.Services {
			for field, value := range containerFields(svc) {
				want, _ := containerFields(base.Services[svcName])[field]
				for n, t := range templates(value, byCanary, base.Environment) {
					if t.Expand(base.Environment[n]) != want {
						alone[n] = true
						continue
					}
					if out[n][svcName] == nil {
						out[n][svcName] = map[string]Template{}
					}
					out[n][svcName][field] = t
				}
			}
		}
	}
	for n := range alone {
		delete(out, n)
		if u, err := p.UsesOf(ctx, n); err == nil {
			out[n] = u
		} // else absent: the caller's own UsesOf reports the error where it matters
	}
	return out, nil
}

// containerFields are the parts of a service UsesOf reports, resolved.
func containerFields(svc types.ServiceConfig) map[string]string {
	f := map[string]string{}
	for k, v := range svc.Environment {
		if v != nil {
			f[k] = *v
		}
	}
	if len(svc.Command) > 0 {
		f[FieldCommand] = strings.Join(svc.Command, "\x00")
	}
	if len(svc.Entrypoint) > 0 {
		f[FieldEntrypoint] = strings.Join(svc.Entrypoint, "\x00")
	}
	return f
}

// templates splits value per variable whose canary it holds, the other variables' canaries replaced by
// their current values.
func templates(value string, byCanary map[string]string, env map[string]string) map[string]Template {
	found := canaryPattern.FindAllString(value, -1)
	out := map[string]Template{}
	for _, c := range found {
		n, ok := byCanary[c]
		if !ok || out[n].parts != nil {
			continue
		}
		others := canaryPattern.ReplaceAllStringFunc(value, func(o string) string {
			if o == c {
				return o
			}
			if on, ok := byCanary[o]; ok {
				return env[on]
			}
			return o
		})
		out[n] = Template{parts: strings.Split(others, c)}
	}
	return out
}
