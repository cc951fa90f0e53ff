package discover

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/rekeyhq/rekey/config"
	"github.com/rekeyhq/rekey/internal/derive"
	"github.com/rekeyhq/rekey/internal/redact"
)

// proposeDerived turns a candidate whose value holds another's (DATABASE_URL holding POSTGRES_PASSWORD's
// value, written out) into a derived location of that other secret: its template is the written-out
// value with the password replaced by {{ urlquery .value }} (a URL: scheme, user, host, path and query
// kept as they are) or by {{ .value }} (any other text holding it as it is). One secret then rotates
// both, in one transaction. A pair init cannot template safely is left to embedded's note.
func proposeDerived(secrets []*Secret, rep *Report) []*Secret {
	var gone []*Secret
	for _, a := range secrets {
		if a.Type != kindToken || len(a.value) < 8 || redact.CommonWord(a.value) || slices.Contains(gone, a) {
			continue
		}
		for _, b := range secrets {
			if a == b || b.Type != kindToken || slices.Contains(gone, b) || strings.TrimSpace(b.value) == a.value || len(b.Consumers) == 0 ||
				!strings.Contains(b.value, a.value) && !containsEscaped(b.value, a.value) {
				continue // the same value twice is a shared secret, not a form of it
			}
			tmpl, ok := derivedTemplate(b.value, a.value, secrets, a, b)
			if !ok {
				continue
			}
			d := config.Derived{Env: b.Var, File: b.File, FileOutsideProject: b.File != "" && filepath.IsAbs(b.File), Template: tmpl}
			a.derived = append(a.derived, d)
			a.Derived = append(a.Derived, d.Where())
			a.comments = append(a.comments, fmt.Sprintf("%s holds this value: rekey renders it from the template below at every rotation", d.Where()))
			gone = append(gone, b)
			rep.Hidden = append(rep.Hidden, Hidden{Kind: HiddenEmbedded, Secret: a.Name, Note: fmt.Sprintf(
				"the value of %s is also part of %s: init proposes %s as a derived location of %s (derived: in rekey.yaml; the template keeps the rest of it as written), so one rotation changes both; review the template",
				a.Name, b.Name, d.Where(), a.Name)})
		}
	}
	return slices.DeleteFunc(secrets, func(s *Secret) bool { return slices.Contains(gone, s) })
}

// containsEscaped reports whether s holds value URL-escaped, as a URL's password holds it.
func containsEscaped(s, value string) bool {
	return strings.Contains(s, derive.URLPassword(value)) || strings.Contains(s, url.QueryEscape(value))
}

// derivedTemplate is the template that renders written from value, checked to render it back (a URL
// compared after parsing) and to hold no secret's value — its own included, raw or URL-escaped — in its
// literal text: the template is written to rekey.yaml, which is plaintext.
func derivedTemplate(written, value string, secrets []*Secret, a, b *Secret) (string, bool) {
	tmpl, ok := urlTemplate(written, value)
	if !ok && strings.Contains(written, value) {
		parts := strings.Split(written, value)
		for i := range parts {
			parts[i] = literal(parts[i])
		}
		tmpl, ok = strings.Join(parts, "{{ .value }}"), true
	}
	if !ok {
		return "", false
	}
	for _, s := range secrets {
		if s != b && len(s.value) >= 8 && holdsValue(tmpl, s.value) {
			return "", false // rekey.yaml is plaintext: not even the secret's own value, elsewhere in the URL
		}
	}
	f, err := derive.Parse(tmpl, func(string) bool { return false })
	if err != nil || !f.Match(written, derive.Data{Value: value}, nil) {
		return "", false
	}
	return tmpl, true
}

// holdsValue reports whether text holds value as it is or escaped as a URL would hold it.
func holdsValue(text, value string) bool {
	return strings.Contains(text, value) || containsEscaped(text, value)
}

// urlTemplate replaces the password of a URL's user-info with {{ urlquery .value }} when it is value,
// keeping every other byte of the URL.
func urlTemplate(written, value string) (string, bool) {
	i := strings.Index(written, "://")
	if i < 0 {
		return "", false
	}
	start := i + 3
	end := strings.IndexAny(written[start:], "/?#")
	if end < 0 {
		end = len(written) - start
	}
	authority := written[start : start+end]
	at := strings.LastIndex(authority, "@")
	colon := strings.Index(authority, ":")
	if at < 0 || colon < 0 || colon > at {
		return "", false
	}
	if pw, err := url.PathUnescape(authority[colon+1 : at]); err != nil || pw != value {
		return "", false
	}
	return literal(written[:start+colon+1]) + "{{ urlquery .value }}" + literal(written[start+at:]), true
}

// literal makes text a template's literal: "{{" would open an action.
func literal(s string) string { return strings.ReplaceAll(s, "{{", `{{ "{{" }}`) }

// proposeReferences turns a variable left out as derived-variable (DATABASE_URL=postgres://app:${DB_PASSWORD}@db/app)
// into a derived location of the secret it refers to, when it refers to that one variable only: the
// template is the assignment with the reference replaced by {{ urlquery .value }} where it is a URL's
// password (which compose's interpolation never escaped), else by {{ .value }}. rekey then writes it out
// at every rotation instead of leaving it to compose's interpolation.
func (f *finder) proposeReferences(ctx context.Context, raw map[string][]byte, secrets []*Secret) error {
	for _, skip := range slices.Clone(f.rep.Skipped) {
		name := skip.Name
		srcs := f.p.VarSources(name)
		if !varName.MatchString(name) || len(srcs) != 1 || !derivedLine(raw[srcs[0].Path], name) {
			continue
		}
		text, ref, ok := reference(raw[srcs[0].Path], name)
		owner := ownerOf(secrets, ref)
		if !ok || owner == nil || refPattern.ReplaceAllString(text, "") == "" {
			continue // a bare ${VAR}: compose's interpolation copies the value, with nothing to escape
		}
		uses, err := f.p.ConsumersOfVar(ctx, name)
		if err != nil {
			return err
		}
		written := refPattern.ReplaceAllLiteralString(text, owner.value)
		tmpl, ok := derivedTemplate(written, owner.value, secrets, owner, nil)
		if !ok || len(uses) == 0 {
			continue
		}
		d := config.Derived{Env: name, Template: tmpl}
		owner.derived = append(owner.derived, d)
		owner.Derived = append(owner.Derived, name)
		owner.comments = append(owner.comments, fmt.Sprintf("%s is built from ${%s}: rekey renders it from the template below at every rotation", name, ref))
		f.rep.Skipped = slices.DeleteFunc(f.rep.Skipped, func(k Skip) bool { return k.Name == name })
		f.rep.Hidden = slices.DeleteFunc(f.rep.Hidden, func(h Hidden) bool {
			return h.Kind == HiddenDerived && strings.HasPrefix(h.Note, name+" ")
		})
		f.rep.Hidden = append(f.rep.Hidden, Hidden{Kind: HiddenDerived, Secret: owner.Name, Note: fmt.Sprintf(
			"%s is built from ${%s} in %s: init proposes it as a derived location of %s (derived: in rekey.yaml), which rekey writes out at every rotation, the value escaped where the URL needs it",
			name, ref, srcs[0].Path, owner.Name)})
	}
	return nil
}

var (
	varName    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	refPattern = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)`)
)

// reference returns the last assignment of name in data, unquoted, when it refers to exactly one
// variable (as ${VAR} or $VAR, once or more) and holds no other '$' or escape.
func reference(data []byte, name string) (text, ref string, ok bool) {
	re := regexp.MustCompile(`(?m)^[ \t]*(?:export[ \t]+)?` + regexp.QuoteMeta(name) + `[ \t]*=(.*)$`)
	m := re.FindAllSubmatch(data, -1)
	if len(m) == 0 {
		return "", "", false
	}
	text = strings.TrimSpace(string(m[len(m)-1][1]))
	if len(text) >= 2 && text[0] == '"' && text[len(text)-1] == '"' {
		text = text[1 : len(text)-1]
	}
	if strings.ContainsAny(text, "\\\"'#") {
		return "", "", false
	}
	for _, g := range refPattern.FindAllStringSubmatch(text, -1) {
		r := g[1] + g[2]
		if ref != "" && r != ref {
			return "", "", false
		}
		ref = r
	}
	if ref == "" || strings.Contains(refPattern.ReplaceAllString(text, ""), "$") {
		return "", "", false
	}
	return text, ref, true
}

// ownerOf is the proposed token secret carried by variable v.
func ownerOf(secrets []*Secret, v string) *Secret {
	for _, s := range secrets {
		if s.Var == v && s.Type == kindToken && len(s.value) >= 8 {
			return s
		}
	}
	return nil
}
