package composeio

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
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
		if len(uses) > 0 {
			out[svcName] = uses
		}
	}
	return out, nil
}
