// Package derive renders derived locations: the shapes a secret takes besides its plain value (a
// database URL with the password embedded, a bcrypt or htpasswd line, a base64 or JSON form). A form is
// a Go text/template restricted to a small fixed set of functions, the fields .value and .login, and
// string literals: no call, no variables, no ranges, no access to the environment or to files.
package derive

import (
	"fmt"
	"sort"
	"strings"
	"text/template"
	"text/template/parse"
)

// Function names a form may use.
const (
	FuncURLQuery = "urlquery" // user-info escaping (url.UserPassword), not query escaping
	FuncURLUser  = "urluser"  // user-info escaping of a user name (url.User)
	FuncBcrypt   = "bcrypt"   // a bcrypt hash of the argument
	FuncHtpasswd = "htpasswd" // "USER:" followed by a bcrypt hash of the password ($2y$, as Apache)
	FuncBase64   = "base64"   // standard base64 with padding
	FuncSHA256   = "sha256"   // hex SHA-256
	FuncJSON     = "json"     // a JSON string literal, quotes included
	FuncYAML     = "yaml"     // a YAML double-quoted scalar, quotes included
	FuncSecret   = "secret"   // the value of another declared secret: secret "name"
)

// Funcs lists every function a form may use, sorted, for messages and docs.
func Funcs() []string {
	names := make([]string, 0, len(stubs))
	for n := range stubs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// stubs declare the functions at parse time; rendering binds the real ones (see render.go).
var stubs = template.FuncMap{
	FuncURLQuery: func(string) string { return "" },
	FuncURLUser:  func(string) string { return "" },
	FuncBcrypt:   func(string) string { return "" },
	FuncHtpasswd: func(string, string) string { return "" },
	FuncBase64:   func(string) string { return "" },
	FuncSHA256:   func(string) string { return "" },
	FuncJSON:     func(string) string { return "" },
	FuncYAML:     func(string) string { return "" },
	FuncSecret:   func(string) string { return "" },
}

// Fields a form may read.
const (
	FieldValue = "value" // the secret's value
	FieldLogin = "login" // the login the value logs in as on the secret's server
)

// Form is a parsed template.
type Form struct {
	src     string
	tree    *parse.Tree
	secrets []string // names given to secret, in order of appearance
	login   bool     // reads .login
	oneWay  bool     // holds a bcrypt or htpasswd hash: checked, not compared
	nested  int      // > 0 while walking what another function receives
}

// Parse parses a form. declared says whether a name is a secret of the config, for secret "name".
func Parse(src string, declared func(string) bool) (*Form, error) {
	if strings.TrimSpace(src) == "" {
		return nil, fmt.Errorf("the template is empty")
	}
	t, err := template.New("form").Funcs(stubs).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, fmt.Errorf("the template does not parse: %s", cleanParseError(err))
	}
	if len(t.Templates()) != 1 {
		return nil, fmt.Errorf("the template defines templates of its own: a form is one template")
	}
	f := &Form{src: src, tree: t.Tree}
	if err := f.walk(t.Tree.Root); err != nil {
		return nil, err
	}
	for _, s := range f.secrets {
		if !declared(s) {
			return nil, fmt.Errorf("the template names secret %q, which is not declared under secrets", s)
		}
	}
	return f, nil
}

// cleanParseError drops text/template's "template: form:" prefix, so the message names the config's
// line rather than the template's internal name.
func cleanParseError(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "template: ")
	if rest, ok := strings.CutPrefix(s, "form:"); ok {
		s = "line " + rest
	}
	return s
}

// walk refuses every node but text, comments, if/else and actions of the allowed functions and fields.
func (f *Form) walk(n parse.Node) error {
	switch n := n.(type) {
	case nil:
		return nil
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := f.walk(c); err != nil {
				return err
			}
		}
		return nil
	case *parse.TextNode, *parse.CommentNode, *parse.StringNode:
		return nil
	case *parse.ActionNode:
		return f.walk(n.Pipe)
	case *parse.IfNode:
		if err := f.walk(n.Pipe); err != nil {
			return err
		}
		if err := f.walk(n.List); err != nil {
			return err
		}
		return f.walk(n.ElseList)
	case *parse.PipeNode:
		if n == nil {
			return nil
		}
		if len(n.Decl) > 0 {
			return fmt.Errorf("the template declares a variable: forms use .value, .login, string literals and the functions %s only", strings.Join(Funcs(), ", "))
		}
		for i, c := range n.Cmds {
			last := i == len(n.Cmds)-1
			if !last {
				f.nested++ // its output goes on to the next command
			}
			err := f.command(c)
			if !last {
				f.nested--
			}
			if err != nil {
				return err
			}
		}
		return nil
	case *parse.FieldNode:
		return f.field(n)
	}
	return fmt.Errorf("the template uses %q: forms use .value, .login, string literals and the functions %s only", n.String(), strings.Join(Funcs(), ", "))
}

// command checks one command of a pipeline: a function and its arguments, or a field or literal.
func (f *Form) command(c *parse.CommandNode) error {
	_, isCall := c.Args[0].(*parse.IdentifierNode)
	for i, arg := range c.Args {
		id, ok := arg.(*parse.IdentifierNode)
		if !ok {
			if isCall {
				f.nested++ // an argument of the function
			}
			err := f.walk(arg)
			if isCall {
				f.nested--
			}
			if err != nil {
				return err
			}
			continue
		}
		if _, allowed := stubs[id.Ident]; !allowed {
			return fmt.Errorf("the template calls function %q, which forms do not have (functions: %s)", id.Ident, strings.Join(Funcs(), ", "))
		}
		if i != 0 {
			return fmt.Errorf("the template passes function %q as an argument", id.Ident)
		}
		switch id.Ident {
		case FuncSecret:
			if len(c.Args) != 2 {
				return fmt.Errorf("secret takes one name in quotes: secret \"name\"")
			}
			name, ok := c.Args[1].(*parse.StringNode)
			if !ok {
				return fmt.Errorf("secret takes one name in quotes: secret \"name\"")
			}
			f.secrets = append(f.secrets, name.Text)
		case FuncBcrypt, FuncHtpasswd:
			if f.nested > 0 {
				return fmt.Errorf("the template passes the output of %s on to another function: a hash must be written as it is, so that rekey can check it against the value", id.Ident)
			}
			f.oneWay = true
		}
	}
	return nil
}

func (f *Form) field(n *parse.FieldNode) error {
	if len(n.Ident) != 1 || (n.Ident[0] != FieldValue && n.Ident[0] != FieldLogin) {
		return fmt.Errorf("the template reads %s: forms know .value and .login only", n.String())
	}
	if n.Ident[0] == FieldLogin {
		f.login = true
	}
	return nil
}

// Secrets are the other secrets the form names, in order of appearance.
func (f *Form) Secrets() []string { return f.secrets }

// UsesLogin reports whether the form reads .login.
func (f *Form) UsesLogin() bool { return f.login }

// OneWay reports whether the form holds a bcrypt hash: it cannot be compared byte for byte, only
// checked against a value.
func (f *Form) OneWay() bool { return f.oneWay }

// Source is the template as written.
func (f *Form) Source() string { return f.src }
