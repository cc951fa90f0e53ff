package app

import (
	"slices"

	"github.com/rekeyhq/rekey/engine"
	"github.com/rekeyhq/rekey/internal/derive"
	"github.com/rekeyhq/rekey/live"
)

// files is how the executor and the observers read and write the stack's sources: below the project
// directory without symlinks, derived locations rendered from the session's values (engine.Build has
// compiled and checked their templates already).
func (s *Session) files(warn func(string)) live.Files {
	f := live.Files{Root: s.Project.Dir(), Warn: warn}
	if set, _ := engine.Forms(s.Config); len(set) > 0 {
		f.Forms = &live.Forms{Set: set, Values: s.Value}
	}
	return f
}

// formValues are the shapes Git's values take in derived locations, for the redactor: each form as it
// will be written (hashes left out: they are not the value) and each value escaped for a URL, so that
// an error or a log line quoting a new DATABASE_URL shows neither it nor its password.
func (s *Session) formValues() []string {
	set, _ := engine.Forms(s.Config)
	var out []string
	for _, spec := range set {
		v, ok := s.values[spec.Secret]
		if !ok {
			continue
		}
		if e := derive.URLPassword(v); !slices.Contains(out, e) {
			out = append(out, e)
		}
		logins := spec.Logins
		if len(logins) == 0 {
			logins = []string{""}
		}
		for _, l := range logins {
			if f, err := spec.Form.Probe(derive.Data{Value: v, Login: l, Secret: s.Value}); err == nil && !spec.Form.OneWay() {
				out = append(out, f)
			}
		}
	}
	return out
}
