package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
)

// Derived is a derived location: a place holding a form of the secret (a database URL with the password
// embedded, an htpasswd line, a base64 or JSON form) rendered from Template, a Go text/template with a
// small fixed set of functions (docs/config.md#derived-locations). Exactly one of Env, File or HostFile.
type Derived struct {
	// Env is a variable: written wherever it is assigned (.env, env files), like env.value.
	Env string `yaml:"env"`
	// File is a file whose whole content is the form, relative to compose.project_dir or absolute.
	File               string `yaml:"file"`
	FileOutsideProject bool   `yaml:"file_outside_project"`
	// HostFile is a file on the host, whole or, with Key, one variable in it.
	HostFile string `yaml:"host_file"`
	Key      string `yaml:"key"`
	Template string `yaml:"template"`
}

// Where names the location for messages: the variable, or the file.
func (d Derived) Where() string {
	switch {
	case d.Env != "":
		return d.Env
	case d.File != "":
		return d.File
	case d.Key != "":
		return d.HostFile + ":" + d.Key
	}
	return d.HostFile
}

// SingleLine reports whether the location is a variable, where a line break cannot go.
func (d Derived) SingleLine() bool { return d.Env != "" || d.Key != "" }

func (s *Secret) validateDerived(p *problems, at, name string) {
	dir := p.c.Compose.ProjectDir
	for i, d := range s.Derived {
		here := fmt.Sprintf("%s.derived.%d", at, i)
		n := 0
		for _, set := range []bool{d.Env != "", d.File != "", d.HostFile != ""} {
			if set {
				n++
			}
		}
		switch {
		case n != 1:
			p.add(here, "secret %s: a derived location has exactly one of env, file or host_file", name)
		case d.Template == "":
			p.add(here, "secret %s: derived %s needs a template, e.g. \"postgres://{{ .login }}:{{ urlquery .value }}@db:5432/app\"", name, d.Where())
		case d.Env != "" && !varName.MatchString(d.Env):
			p.add(here+".env", "secret %s: %q is not a valid variable name", name, d.Env)
		case d.Key != "" && d.HostFile == "":
			p.add(here+".key", "secret %s: key belongs to a derived host_file", name)
		case d.Key != "" && !varName.MatchString(d.Key):
			p.add(here+".key", "secret %s: %q is not a valid variable name", name, d.Key)
		case d.HostFile != "" && !filepath.IsAbs(d.HostFile):
			p.add(here+".host_file", "secret %s: host_file must be an absolute path, got %q", name, d.HostFile)
		case d.FileOutsideProject && (d.File == "" || !filepath.IsAbs(d.File)):
			p.add(here+".file_outside_project", "secret %s: file_outside_project needs an absolute file", name)
		case d.File != "" && !d.FileOutsideProject && filepath.IsAbs(dir) && !inside(dir, d.File):
			p.add(here+".file", "secret %s: file %s is outside compose.project_dir %s: give its absolute path and file_outside_project: true", name, d.File, dir)
		case s.Env != nil && (d.Env == s.Env.Value && d.Env != "" || d.Env == s.Env.Current && d.Env != "" || d.Env == s.Env.Previous && d.Env != ""):
			p.add(here+".env", "secret %s: %s carries the plain value already (env); a derived variable is another one", name, d.Env)
		}
	}
}

// marshalDerived writes a secret's derived locations for Marshal.
func marshalDerived(b *bytes.Buffer, s *Secret) {
	if len(s.Derived) == 0 {
		return
	}
	b.WriteString("    derived:\n")
	for _, d := range s.Derived {
		switch {
		case d.Env != "":
			fmt.Fprintf(b, "      - env: %s\n", scalar(d.Env))
		case d.File != "":
			fmt.Fprintf(b, "      - file: %s\n", quote(d.File))
			if d.FileOutsideProject {
				b.WriteString("        file_outside_project: true\n")
			}
		default:
			fmt.Fprintf(b, "      - host_file: %s\n", quote(d.HostFile))
			if d.Key != "" {
				fmt.Fprintf(b, "        key: %s\n", scalar(d.Key))
			}
		}
		fmt.Fprintf(b, "        template: %s\n", quoteText(d.Template))
	}
}

// quoteText is quote without HTML escaping: a URL's '&' stays readable.
func quoteText(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(buf.String(), "\n")
}
