package discover

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/rekeyhq/rekey/composeio"
	"github.com/rekeyhq/rekey/internal/redact"
	"go.yaml.in/yaml/v3"
)

// literalInCompose reports credentials written in plain text in the compose files: a candidate's value,
// and environment entries with a credential's name and no interpolation.
func literalInCompose(p *composeio.Project, secrets []*Secret, rep *Report) {
	for _, f := range p.Files() {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, s := range secrets {
			if len(s.value) >= 8 && !redact.CommonWord(s.value) && bytes.Contains(data, []byte(s.value)) {
				fix := "replace it with ${" + s.Var + "}"
				if s.Var == "" {
					fix = "read it from the file (a compose secret) instead"
				}
				rep.Hidden = append(rep.Hidden, Hidden{Kind: HiddenLiteral, Secret: s.Name, Note: fmt.Sprintf(
					"the value of %s appears in plain text in %s: rekey cannot rewrite it there; %s", s.Name, f, fix)})
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
					rep.Hidden = append(rep.Hidden, Hidden{Kind: HiddenLiteral, Note: fmt.Sprintf(
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
