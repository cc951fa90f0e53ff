package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// problems collects validation errors with their lines.
type problems struct {
	c    *Config
	errs []*Error
}

func (p *problems) add(path, format string, args ...any) {
	line := p.c.Line(path)
	for line == 0 && strings.Contains(path, ".") { // fall back to the nearest enclosing key
		path = path[:strings.LastIndex(path, ".")]
		line = p.c.Line(path)
	}
	p.errs = append(p.errs, &Error{File: p.c.File, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (p *problems) err() error {
	sort.SliceStable(p.errs, func(i, j int) bool { return p.errs[i].Line < p.errs[j].Line })
	errs := make([]error, len(p.errs))
	for i, e := range p.errs {
		errs[i] = e
	}
	return errors.Join(errs...)
}

func (c *Config) validate() error {
	p := &problems{c: c}
	if c.Version != 1 {
		p.add("version", "version must be 1 (got %d)", c.Version)
	}
	if c.Compose.ProjectDir == "" {
		p.add("compose", "compose.project_dir is required: the directory of the Compose project on this host")
	} else if !filepath.IsAbs(c.Compose.ProjectDir) {
		p.add("compose.project_dir", "compose.project_dir must be an absolute path, got %q", c.Compose.ProjectDir)
	}
	if c.Values == "" {
		p.add("values", "values is required: the SOPS-encrypted values file in this repository, e.g. secrets.sops.yaml")
	} else if filepath.IsAbs(c.Values) || strings.HasPrefix(filepath.Clean(c.Values), "..") {
		p.add("values", "values must be a path inside the repository, got %q", c.Values)
	}
	if len(c.Secrets) == 0 {
		p.add("secrets", "no secrets declared")
	}
	for _, name := range c.Names() {
		c.Secrets[name].validate(p, name)
	}
	validateChecks(p, "verify", c.Verify)
	c.validateServers(p)
	c.validateServices(p)
	c.validateSwarm(p)
	for i, name := range c.Alerts.URLs {
		at := fmt.Sprintf("alerts.urls.%d", i)
		switch {
		case !secretName.MatchString(name):
			p.add(at, "alerts.urls: %q is not the name of an entry in the values file", name)
		case c.Secrets[name] != nil:
			p.add(at, "alerts.urls: %s is a managed secret; keep alert URLs in their own entries of the values file", name)
		}
	}
	for i, name := range c.AllowDestroy {
		if s := c.Secrets[name]; s == nil || s.RotationClass() != RotationNever {
			p.add(fmt.Sprintf("allow_destroy.%d", i), "allow_destroy: %q is not a secret with rotation: never", name)
		}
	}
	if strings.HasSuffix(strings.ToLower(c.Values), ".env") {
		for _, name := range c.Names() {
			if s := c.Secrets[name]; s != nil && s.RotateEvery.Duration > 0 {
				p.add("secrets."+name+".rotate_every", "secret %s: rotate_every needs a YAML or JSON values file (rekey cannot rewrite a dotenv one)", name)
			}
		}
	}
	return p.err()
}

func (s *Secret) validate(p *problems, name string) {
	at := "secrets." + name
	if s == nil {
		p.add(at, "secret %s: empty declaration", name)
		return
	}
	if !secretName.MatchString(name) {
		p.add(at, "secret %s: names use lowercase letters, digits, '-', '_' and '.'", name)
	}
	if strings.HasSuffix(name, "_unencrypted") {
		p.add(at, "secret %s: sops leaves keys ending in _unencrypted in cleartext; choose another name", name)
	}
	switch s.Type {
	case TypeAppKey:
		if s.Env == nil || s.Env.Current == "" || s.Env.Previous == "" || s.Env.Value != "" {
			p.add(at+".env", "secret %s: an app-key needs env.current and env.previous (the fallback variable the application accepts during the rotation)", name)
		}
		if s.File != "" {
			p.add(at+".file", "secret %s: an app-key lives in variables, not in a file", name)
		}
	case TypeToken:
		if s.Env != nil && (s.Env.Value == "" || s.Env.Current != "" || s.Env.Previous != "") {
			p.add(at+".env", "secret %s: a token takes env.value (one variable)", name)
		}
		if s.KeepPrevious.Duration != 0 {
			p.add(at+".keep_previous", "secret %s: keep_previous needs a previous variable: use type app-key", name)
		}
	case "":
		p.add(at, "secret %s: type is required (app-key or token)", name)
	default:
		p.add(at+".type", "secret %s: unknown type %q (want app-key or token)", name, s.Type)
	}
	s.validateFile(p, at, name)
	s.validateRotation(p, at, name)
	s.validateDerived(p, at, name)
	if s.Env == nil && s.File == "" && !s.hasHostFile() && len(s.Derived) == 0 {
		p.add(at, "secret %s: say where it lives: env, file, derived, or a consumer with host_file", name)
	}
	s.validateVars(p, at, name)
	if g := s.Generate; g != nil {
		if g.Length != 0 && (g.Length < 16 || g.Length > 4096) {
			p.add(at+".generate.length", "secret %s: generate.length must be between 16 and 4096", name)
		}
		switch g.Charset {
		case "", "alnum", "hex", "base64url":
		default:
			p.add(at+".generate.charset", "secret %s: unknown charset %q (want alnum, hex or base64url)", name, g.Charset)
		}
		if g.Format != "" && strings.Count(g.Format, "{value}") != 1 {
			p.add(at+".generate.format", "secret %s: generate.format must contain {value} exactly once, e.g. \"sk_live_{value}\"", name)
		}
	}
	for i, c := range s.Consumers {
		c.validate(p, fmt.Sprintf("%s.consumers.%d", at, i), name)
	}
	validateChecks(p, at+".verify", s.Verify)
}

// validateFile refuses a file outside compose.project_dir unless declared with file_outside_project, as
// host consumers are declared with host_file: rekey writes it as root.
func (s *Secret) validateFile(p *problems, at, name string) {
	dir := p.c.Compose.ProjectDir
	switch {
	case s.File == "" && s.FileOutsideProject:
		p.add(at+".file_outside_project", "secret %s: file_outside_project without a file", name)
	case s.File == "" || !filepath.IsAbs(dir):
		return
	case s.FileOutsideProject && !filepath.IsAbs(s.File):
		p.add(at+".file", "secret %s: a file outside the project must be an absolute path, got %q", name, s.File)
	case !s.FileOutsideProject && !inside(dir, s.File):
		p.add(at+".file", "secret %s: file %s is outside compose.project_dir %s: rekey writes it as root, so a file outside the project must be declared: give its absolute path and file_outside_project: true",
			name, s.File, dir)
	}
}

// inside reports whether file, absolute or relative to dir, lies below dir.
func inside(dir, file string) bool {
	if !filepath.IsAbs(file) {
		file = filepath.Join(dir, file)
	}
	rel, err := filepath.Rel(filepath.Clean(dir), filepath.Clean(file))
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, "../")
}

func (s *Secret) validateVars(p *problems, at, name string) {
	if s.Env == nil {
		return
	}
	for _, v := range []string{s.Env.Value, s.Env.Current, s.Env.Previous} {
		if v != "" && !varName.MatchString(v) {
			p.add(at+".env", "secret %s: %q is not a valid variable name", name, v)
		}
	}
	if s.Env.Current != "" && s.Env.Current == s.Env.Previous {
		p.add(at+".env", "secret %s: env.current and env.previous must differ", name)
	}
}

func (s *Secret) hasHostFile() bool {
	for _, c := range s.Consumers {
		if c.HostFile != "" {
			return true
		}
	}
	return false
}

func (c Consumer) validate(p *problems, at, secret string) {
	switch {
	case (c.Service == "") == (c.HostFile == ""):
		p.add(at, "secret %s: a consumer has exactly one of service or host_file", secret)
	case c.HostFile != "" && !filepath.IsAbs(c.HostFile):
		p.add(at+".host_file", "secret %s: host_file must be an absolute path, got %q", secret, c.HostFile)
	case c.Service != "" && (c.Key != "" || c.Verify != nil && c.Verify.Cmd != nil):
		p.add(at, "secret %s: key and host verify commands belong to host_file consumers", secret)
	}
	if c.Key != "" && !varName.MatchString(c.Key) {
		p.add(at+".key", "secret %s: %q is not a valid variable name", secret, c.Key)
	}
	if c.Verify != nil {
		validateChecks(p, at+".verify", []Check{*c.Verify})
	}
}

func validateChecks(p *problems, at string, checks []Check) {
	for i, ck := range checks {
		where := fmt.Sprintf("%s.%d", at, i)
		n := 0
		for _, set := range []bool{ck.HTTP != nil, ck.Exec != nil, ck.Logs != nil, ck.Cmd != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			p.add(where, "a check has exactly one of http, exec, logs or cmd")
			continue
		}
		switch {
		case ck.HTTP != nil && ck.HTTP.URL == "":
			p.add(where, "http check needs url")
		case ck.Exec != nil && (ck.Exec.Service == "" || len(ck.Exec.Cmd) == 0):
			p.add(where, "exec check needs service and cmd")
		case ck.Logs != nil && len(ck.Logs.Deny) == 0:
			p.add(where, "logs check needs at least one deny pattern")
		case ck.Cmd != nil && len(ck.Cmd) == 0:
			p.add(where, "cmd check needs a command")
		}
	}
}

// validateRotation checks the rotation class: rotate_every on a secret rekey must not regenerate is
// refused here, not when the agent finds it due.
func (s *Secret) validateRotation(p *problems, at, name string) {
	switch s.Rotation {
	case "", RotationGenerated, RotationIssued, RotationNever:
	default:
		p.add(at+".rotation", "secret %s: unknown rotation %q (want generated, issued or never)", name, s.Rotation)
		return
	}
	if s.RotateEvery.Duration > 0 && s.RotationClass() != RotationGenerated {
		p.add(at+".rotate_every", "secret %s: rotate_every on a secret with rotation: %s: rekey must not make its values", name, s.Rotation)
	}
	if s.Generate != nil && s.RotationClass() != RotationGenerated {
		p.add(at+".generate", "secret %s: generate on a secret with rotation: %s: rekey never makes its values", name, s.Rotation)
	}
	if strings.ContainsAny(s.RotationReason, "\r\n") {
		p.add(at+".rotation_reason", "secret %s: rotation_reason is one line", name)
	}
}
