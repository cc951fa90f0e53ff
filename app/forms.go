package app

import (
	"github.com/rekeyhq/rekey/engine"
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
