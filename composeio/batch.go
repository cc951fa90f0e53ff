package composeio

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"

	"github.com/compose-spec/compose-go/v2/types"
)

// errUnexplained means the combined probe saw a difference it cannot pin on variables.
var errUnexplained = errors.New("a difference no single variable explains")

// suspectsError is errUnexplained for a difference that holds the canaries of some variables: probing
// those one by one and the others together again resolves it.
type suspectsError struct{ names []string }

func (e *suspectsError) Error() string { return errUnexplained.Error() }
func (e *suspectsError) Unwrap() error { return errUnexplained }

// ConsumersOfVars is ConsumersOfVar for many variables, with two loads of the project instead of two per
// variable: every variable gets its own canary in one probe, and each difference in a service's resolved
// configuration is pinned on the variables whose canaries it contains. A load of a large project takes
// hundreds of milliseconds, so this is what keeps a desired state of hundreds of secrets quick to build.
//
// When the combined probe cannot stand in for one probe per variable — a variable compose casts or
// validates (a port, a boolean), one that selects services, one whose default differs from its unset
// value, a difference that holds no canary — it falls back to ConsumersOfVar for each variable, so the
// result is always the same as calling ConsumersOfVar for each name.
func (p *Project) ConsumersOfVars(ctx context.Context, names []string) (map[string][]VarUse, error) {
	names = slices.Compact(slices.Sorted(slices.Values(names)))
	for _, n := range names {
		if err := checkVarName(n); err != nil {
			return nil, err
		}
	}
	out := map[string][]VarUse{}
	alone := []string{}
	for len(names) > 0 {
		got, err := p.consumersCombined(ctx, names)
		var se *suspectsError
		switch {
		case err == nil:
			maps.Copy(out, got)
			names = nil
		case errors.As(err, &se):
			// Probe the variables the difference names on their own, the others together again.
			alone = append(alone, se.names...)
			names = slices.DeleteFunc(names, func(n string) bool { return slices.Contains(se.names, n) })
		case errors.Is(err, errUnexplained):
			alone, names = append(alone, names...), nil
		default:
			return nil, err
		}
	}
	for _, n := range alone {
		uses, err := p.ConsumersOfVar(ctx, n)
		if err != nil {
			return nil, err
		}
		out[n] = uses
	}
	return out, nil
}

// canaries gives every name its own canary: the overrides for a probe, and the name of each canary.
func canaries(names []string) (overrides, byCanary map[string]string, err error) {
	overrides, byCanary = map[string]string{}, map[string]string{}
	for _, n := range names {
		var buf [12]byte
		if _, err := rand.Read(buf[:]); err != nil {
			return nil, nil, fmt.Errorf("failed to generate canary: %w", err)
		}
		c := "rekeyprobe" + hex.EncodeToString(buf[:])
		overrides[n], byCanary[c] = c, n
	}
	return overrides, byCanary, nil
}

// canaryPattern finds the canaries of one combined probe: a fixed prefix and 24 hex digits.
var canaryPattern = regexp.MustCompile(`rekeyprobe[0-9a-f]{24}`)

// consumersCombined runs one combined probe of names. Its base is the project Load returned while the files
// that load read are unchanged (see withBase), else a fresh load.
func (p *Project) consumersCombined(ctx context.Context, names []string) (map[string][]VarUse, error) {
	return withBase(ctx, p, func(base *types.Project) (map[string][]VarUse, error) {
		return p.consumersAgainst(ctx, base, names)
	})
}

func (p *Project) consumersAgainst(ctx context.Context, base *types.Project, names []string) (map[string][]VarUse, error) {
	if alone := p.probeAlone(base, names); len(alone) > 0 {
		return nil, &suspectsError{names: alone}
	}
	alt, byCanary, err := p.probeLoad(ctx, base, names)
	if err != nil {
		return nil, err
	}
	a := attribution{base: base, byCanary: byCanary, uses: map[string]map[string]map[string]bool{}}
	if !slices.Equal(slices.Sorted(maps.Keys(base.Services)), slices.Sorted(maps.Keys(alt.Services))) {
		return nil, errUnexplained
	}
	changed, err := a.resources(base, alt)
	if err != nil {
		return nil, err
	}
	for svcName, svc := range base.Services {
		if err := a.service(svc, alt.Services[svcName], changed); err != nil {
			return nil, err
		}
		for _, f := range serviceEnvFiles(svc) {
			for _, n := range names {
				if p.envFileVars[f][n] {
					a.add(n, svcName, "env_file:"+f)
				}
			}
		}
	}
	out := map[string][]VarUse{}
	for _, n := range names {
		svcs := a.uses[n]
		uses := make([]VarUse, 0, len(svcs))
		for _, svc := range slices.Sorted(maps.Keys(svcs)) {
			uses = append(uses, VarUse{Service: svc, Via: slices.Sorted(maps.Keys(svcs[svc]))})
		}
		out[n] = uses
	}
	return out, nil
}

// probeLoad loads the project with a canary for each name: the probe Load ran for WithProbe when it is the
// probe of these names against this base and it loaded, else a load now.
func (p *Project) probeLoad(ctx context.Context, base *types.Project, names []string) (*types.Project, map[string]string, error) {
	if pre := p.takeProbe(base, names); pre != nil && pre.err == nil {
		return pre.alt, pre.byCanary, nil
	}
	overrides, byCanary, err := canaries(names)
	if err != nil {
		return nil, nil, err
	}
	alt, err := p.loadProbe(ctx, overrides)
	if err != nil {
		return nil, nil, errUnexplained // a variable compose casts or validates: probe one by one
	}
	return alt, byCanary, nil
}

// probeAlone returns the names a combined probe cannot speak for: one another assignment refers to (its
// override would hide the use through that other variable), and, where the compose files nest
// interpolations, one that is unset or empty now (a use behind `${OTHER:-${NAME}}` leaves no canary).
func (p *Project) probeAlone(base *types.Project, names []string) []string {
	var out []string
	for _, n := range names {
		if p.referenced[n] || p.nested && base.Environment[n] == "" {
			out = append(out, n)
		}
	}
	return out
}

// attribution pins the differences of a combined probe on variables.
type attribution struct {
	base     *types.Project
	byCanary map[string]string                     // canary → variable
	uses     map[string]map[string]map[string]bool // variable → service → via
}

func (a *attribution) add(name, svc, via string) {
	if a.uses[name] == nil {
		a.uses[name] = map[string]map[string]bool{}
	}
	if a.uses[name][svc] == nil {
		a.uses[name][svc] = map[string]bool{}
	}
	a.uses[name][svc][via] = true
}

// explain returns the variables whose canaries make alt differ from base. It fails unless putting each
// variable's base value back where its canary is gives base exactly.
func (a *attribution) explain(base, alt []byte) ([]string, error) {
	var names []string
	restored := canaryPattern.ReplaceAllFunc(alt, func(c []byte) []byte {
		n, ok := a.byCanary[string(c)]
		if !ok {
			return c
		}
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
		v, err := json.Marshal(a.base.Environment[n])
		if err != nil {
			return c
		}
		return v[1 : len(v)-1] // inside a JSON string already
	})
	switch {
	case len(names) == 0:
		return nil, errUnexplained
	case !bytes.Equal(restored, base):
		return nil, &suspectsError{names: names}
	}
	return names, nil
}

// suspects blames the variables whose canaries appear in b, or nothing.
func (a *attribution) suspects(b []byte) error {
	var names []string
	for _, c := range canaryPattern.FindAll(b, -1) {
		if n, ok := a.byCanary[string(c)]; ok && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return errUnexplained
	}
	return &suspectsError{names: names}
}

func (a *attribution) service(b, alt types.ServiceConfig, changed map[string][]string) error {
	mb, err := fields(b)
	if err != nil {
		return fmt.Errorf("failed to compare service %s: %w", b.Name, err)
	}
	ma, err := fields(alt)
	if err != nil {
		return fmt.Errorf("failed to compare service %s: %w", b.Name, err)
	}
	for _, k := range slices.Sorted(maps.Keys(ma)) {
		if _, ok := mb[k]; !ok {
			return a.suspects(ma[k]) // a field only the probe has: a default that differs from unset
		}
	}
	for k, bv := range mb {
		av, ok := ma[k]
		if !ok {
			return errUnexplained
		}
		if bytes.Equal(bv, av) {
			continue
		}
		names, err := a.explain(bv, av)
		if err != nil {
			return err
		}
		for _, n := range names {
			a.add(n, b.Name, "interpolation:"+area(k))
		}
	}
	if !equalExtensions(b.Extensions, alt.Extensions) {
		jb, _ := json.Marshal(b.Extensions)
		ja, _ := json.Marshal(alt.Extensions)
		names, err := a.explain(jb, ja)
		if err != nil {
			return err
		}
		for _, n := range names {
			a.add(n, b.Name, "interpolation:other")
		}
	}
	refs := map[string]bool{}
	for _, r := range b.Secrets {
		refs["secret:"+r.Source] = true
	}
	for _, r := range b.Configs {
		refs["config:"+r.Source] = true
	}
	for _, v := range b.Volumes {
		if v.Type == types.VolumeTypeVolume {
			refs["volume:"+v.Source] = true
		}
	}
	for n := range b.Networks {
		refs["network:"+n] = true
	}
	for res, names := range changed {
		if refs[res] {
			for _, n := range names {
				a.add(n, b.Name, res)
			}
		}
	}
	return nil
}

// resources returns the top-level secrets, configs, volumes and networks whose definition the probe
// changed, with the variables that changed each.
func (a *attribution) resources(base, alt *types.Project) (map[string][]string, error) {
	if len(base.Secrets) != len(alt.Secrets) || len(base.Configs) != len(alt.Configs) ||
		len(base.Volumes) != len(alt.Volumes) || len(base.Networks) != len(alt.Networks) {
		return nil, errUnexplained
	}
	changed := map[string][]string{}
	err := eachResource(base, alt, func(key string, jb, ja []byte, inAlt bool) error {
		switch {
		case !inAlt:
			return errUnexplained
		case bytes.Equal(jb, ja):
			return nil
		}
		names, err := a.explain(jb, ja)
		changed[key] = names
		return err
	})
	return changed, err
}
