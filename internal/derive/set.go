package derive

import (
	"fmt"
	"strings"
)

// Limits of a rendering: a variable holds one line of at most MaxVariable bytes, a whole file at most
// MaxFile (the limit rekey reads a value file with).
const (
	MaxVariable = 64 << 10
	MaxFile     = 1 << 20
)

// Spec is one derived location's form with what rendering it needs to know.
type Spec struct {
	Form   *Form
	Secret string // the secret whose value .value is
	Where  string // the variable or file, for messages
	// Logins are the logins .login may be: both login roles of a server whose logins take turns, the
	// server's one login otherwise, none without a server.
	Logins     []string
	SingleLine bool
}

// Set holds the specs of every derived location, by Location.Form.
type Set map[string]*Spec

// ID is the Location.Form of a secret's i-th derived location.
func ID(secret string, i int) string { return fmt.Sprintf("%s#%d", secret, i) }

// Check refuses a rendering a location cannot hold: empty, over its limit, or a line break (or NUL) in
// a variable. It names the location, never the content.
func (s *Spec) Check(out string) error {
	limit := MaxFile
	if s.SingleLine {
		limit = MaxVariable
	}
	switch {
	case out == "":
		return fmt.Errorf("derived %s renders empty", s.Where)
	case len(out) > limit:
		return fmt.Errorf("derived %s renders %d bytes, more than the %d a %s may hold", s.Where, len(out), limit, s.kind())
	case s.SingleLine && strings.ContainsAny(out, "\n\r"):
		return fmt.Errorf("derived %s renders a line break, which the variable cannot hold: use a whole file, or an escaping function (json, base64, urlquery)", s.Where)
	case strings.ContainsRune(out, 0):
		return fmt.Errorf("derived %s renders a NUL byte", s.Where)
	}
	return nil
}

func (s *Spec) kind() string {
	if s.SingleLine {
		return "variable"
	}
	return "file"
}

// DefaultLogin is the login to render with when the server did not stage on one of its own: the only
// candidate, or "" when there are two (the caller reads it back from the live form).
func (s *Spec) DefaultLogin() string {
	if len(s.Logins) == 1 {
		return s.Logins[0]
	}
	return ""
}
