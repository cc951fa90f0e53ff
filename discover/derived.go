package discover

import (
	"fmt"
	"net/url"
	"path/filepath"
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
			if a == b || b.Type != kindToken || slices.Contains(gone, b) || strings.TrimSpace(b.value) == a.value ||
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
// compared after parsing) and to hold no other secret's value in its literal text.
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
		if s != a && s != b && len(s.value) >= 8 && strings.Contains(tmpl, s.value) {
			return "", false
		}
	}
	f, err := derive.Parse(tmpl, func(string) bool { return false })
	if err != nil || !f.Match(written, derive.Data{Value: value}, nil) {
		return "", false
	}
	return tmpl, true
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
