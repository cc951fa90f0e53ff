package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// FileName is the name of the plaintext desired state at the root of a repository.
const FileName = "rekey.yaml"

// Proposal is a rekey.yaml to write: a Config and the comments that explain it to the human who reviews
// it (`rekey init` writes one). Marshal writes the fields a proposal uses: version, compose (project_dir,
// project_name, files), values, secrets (type, env, file, host_file consumers, server, login_env,
// strategy), verify (http and logs checks) and servers (marshal_servers.go); any other field set is an
// error rather than a silent loss.
type Proposal struct {
	Config Config
	// Header are comment lines above everything.
	Header []string
	// Order is the order the secrets are written in: every name of Config.Secrets, once.
	Order []string
	// Comments are comment lines above a secret, by name.
	Comments map[string][]string
	// VerifyComment are comment lines above verify:.
	VerifyComment []string
	// Suggested are checks written commented out after the verify list, each with a note: checks a human
	// should complete (rekey cannot know which URL proves the app works).
	Suggested []Suggestion
	// ServersComment are comment lines above servers:, ServerComments those above a server, by name.
	ServersComment []string
	ServerComments map[string][]string
}

// Suggestion is a check written as a comment, for a human to enable.
type Suggestion struct {
	Check Check
	Note  string
}

// Marshal writes p as rekey.yaml. Parse reads back the same Config (a test holds them to it).
func Marshal(p Proposal) ([]byte, error) {
	c := &p.Config
	if err := marshalable(c, p.Order); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	comments(&b, "", p.Header)
	fmt.Fprintf(&b, "version: %d\ncompose:\n", c.Version)
	fmt.Fprintf(&b, "  project_dir: %s\n  project_name: %s\n", quote(c.Compose.ProjectDir), quote(c.Compose.ProjectName))
	if len(c.Compose.Files) > 0 {
		fmt.Fprintf(&b, "  files: %s\n", flowList(c.Compose.Files, quote))
	}
	fmt.Fprintf(&b, "values: %s\n\nsecrets:\n", scalar(c.Values))
	for i, name := range p.Order {
		if i > 0 {
			b.WriteString("\n")
		}
		comments(&b, "  ", p.Comments[name])
		if err := marshalSecret(&b, name, c.Secrets[name]); err != nil {
			return nil, err
		}
		if err := marshalSecretServer(&b, c, name, c.Secrets[name]); err != nil {
			return nil, err
		}
	}
	if err := marshalServers(&b, p); err != nil {
		return nil, err
	}
	if len(c.Verify) == 0 && len(p.Suggested) == 0 {
		return b.Bytes(), nil
	}
	b.WriteString("\n")
	comments(&b, "", p.VerifyComment)
	b.WriteString("verify:\n")
	for i, ch := range c.Verify {
		text, err := flowCheck(ch)
		if err != nil {
			return nil, fmt.Errorf("verify[%d]: %w", i, err)
		}
		fmt.Fprintf(&b, "  - %s\n", text)
	}
	for _, s := range p.Suggested {
		text, err := flowCheck(s.Check)
		if err != nil {
			return nil, fmt.Errorf("suggested check: %w", err)
		}
		line := "  # - " + text
		if s.Note != "" {
			line += "   # " + oneLine(s.Note)
		}
		b.WriteString(line + "\n")
	}
	return b.Bytes(), nil
}

// marshalable refuses what Marshal would not write: fields outside a proposal, and an order that does
// not name every secret once.
func marshalable(c *Config, order []string) error {
	switch {
	case len(c.Compose.Command) > 0 || c.HealthTimeout.Duration != 0 || c.Drift != (Drift{}) ||
		len(c.Alerts.URLs) > 0 || len(c.AllowDestroy) > 0 || len(c.Services) > 0 || c.Swarm != (Swarm{}):
		return errors.New("marshal: only version, compose (project_dir, project_name, files), values, secrets, servers and verify are written (not services, swarm, drift, alerts, allow_destroy or health_timeout)")
	case !slices.Equal(slices.Sorted(slices.Values(order)), slices.Sorted(maps.Keys(c.Secrets))):
		return fmt.Errorf("marshal: the order %v does not name every secret once", order)
	}
	return nil
}

func marshalSecret(b *bytes.Buffer, name string, s *Secret) error {
	if s == nil {
		return fmt.Errorf("marshal: secret %s is nil", name)
	}
	if s.KeepPrevious.Duration != 0 || len(s.Verify) > 0 || s.RotateEvery.Duration != 0 ||
		s.Heal != nil {
		return fmt.Errorf("marshal: secret %s: only type, rotation, env, file, generate, host_file consumers and server fields are written", name)
	}
	fmt.Fprintf(b, "  %s:\n    type: %s\n", scalar(name), scalar(s.Type))
	if s.Rotation != "" {
		fmt.Fprintf(b, "    rotation: %s\n", scalar(s.Rotation))
	}
	if s.RotationReason != "" {
		fmt.Fprintf(b, "    rotation_reason: %s\n", quote(oneLine(s.RotationReason)))
	}
	if e := s.Env; e != nil {
		var fields []string
		for _, f := range [][2]string{{"value", e.Value}, {"current", e.Current}, {"previous", e.Previous}} {
			if f[1] != "" {
				fields = append(fields, f[0]+": "+scalar(f[1]))
			}
		}
		fmt.Fprintf(b, "    env: {%s}\n", strings.Join(fields, ", "))
	}
	if s.File != "" {
		fmt.Fprintf(b, "    file: %s\n", quote(s.File))
	}
	if s.FileOutsideProject {
		b.WriteString("    file_outside_project: true\n")
	}
	if g := s.Generate; g != nil {
		fields := []string{}
		if g.Length != 0 {
			fields = append(fields, "length: "+strconv.Itoa(g.Length))
		}
		if g.Charset != "" {
			fields = append(fields, "charset: "+scalar(g.Charset))
		}
		if g.Format != "" {
			fields = append(fields, "format: "+quote(g.Format))
		}
		fmt.Fprintf(b, "    generate: {%s}\n", strings.Join(fields, ", "))
	}
	if len(s.Consumers) > 0 {
		b.WriteString("    consumers:\n")
	}
	for _, c := range s.Consumers {
		if c.HostFile == "" || c.Service != "" || c.Verify != nil {
			return fmt.Errorf("marshal: secret %s: only host_file consumers with a key are written", name)
		}
		fmt.Fprintf(b, "      - host_file: %s\n", quote(c.HostFile))
		if c.Key != "" {
			fmt.Fprintf(b, "        key: %s\n", scalar(c.Key))
		}
	}
	marshalDerived(b, s)
	return nil
}

// flowCheck writes an http or logs check in flow style: `logs: {deny: ["…"]}`.
func flowCheck(c Check) (string, error) {
	switch {
	case c.HTTP != nil && c.Exec == nil && c.Logs == nil && c.Cmd == nil && c.HTTP.Timeout.Duration == 0:
		return fmt.Sprintf("http: {url: %s, status: %d}", quote(c.HTTP.URL), c.HTTP.Status), nil
	case c.Logs != nil && c.HTTP == nil && c.Exec == nil && c.Cmd == nil:
		fields := []string{}
		if c.Logs.Service != "" {
			fields = append(fields, "service: "+scalar(c.Logs.Service))
		}
		fields = append(fields, "deny: "+flowList(c.Logs.Deny, strconv.Quote))
		return "logs: {" + strings.Join(fields, ", ") + "}", nil
	}
	return "", errors.New("marshal: only http checks without a timeout and logs checks are written")
}

func flowList(items []string, q func(string) string) string {
	quoted := make([]string, len(items))
	for i, s := range items {
		quoted[i] = q(s)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}

// comments writes each line as a comment; a line break inside one would end the comment, so it is a space.
func comments(b *bytes.Buffer, indent string, lines []string) {
	for _, l := range lines {
		fmt.Fprintf(b, "%s# %s\n", indent, oneLine(l))
	}
}

func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}

// quote writes a double-quoted scalar (a JSON string is a valid YAML double-quoted one).
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// plainWord is what scalar may leave unquoted: names, not text.
var plainWord = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// scalar writes a name plain when YAML reads it back as the same string (not a number, a boolean or
// null), and quoted otherwise.
func scalar(s string) string {
	if !plainWord.MatchString(s) {
		return quote(s)
	}
	var n yaml.Node
	if yaml.Unmarshal([]byte(s), &n) != nil || len(n.Content) != 1 || n.Content[0].Tag != "!!str" || n.Content[0].Value != s {
		return quote(s)
	}
	return s
}
