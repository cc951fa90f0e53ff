package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Error is a problem at a line of the config file.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Load reads and validates the config file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read config: %w", err)
	}
	return Parse(filepath.Base(path), data)
}

// Parse decodes and validates a config. name is used in messages.
func Parse(name string, data []byte) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlError(name, err)
	}
	if len(root.Content) == 0 {
		return nil, &Error{File: name, Msg: "empty file; start from examples/demo/repo/rekey.yaml"}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, yamlError(name, err)
	}
	c.File, c.lines = name, map[string]int{}
	index(root.Content[0], "", c.lines)
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// typeNames turns Go type names in yaml.v3 messages into the words of the config reference.
var typeNames = strings.NewReplacer(
	"config.Config", "the top level", "config.Compose", "compose", "config.Secret", "a secret",
	"config.Env", "env", "config.Consumer", "a consumer", "config.Check", "a check",
	"config.HTTPCheck", "an http check", "config.Generate", "generate", "config.ExecCheck", "an exec check", "config.LogsCheck", "a logs check",
	"config.Server", "a server", "config.Admin", "admin")

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlError turns yaml.v3's "line N: msg" errors into file:line errors, one per problem.
func yamlError(name string, err error) error {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	var errs []error
	for _, m := range msgs {
		e := &Error{File: name, Msg: m}
		if g := yamlLine.FindStringSubmatch(m); g != nil {
			e.Line, _ = strconv.Atoi(g[1])
			e.Msg = typeNames.Replace(strings.Replace(g[2], "not found in type", "is not a known field of", 1))
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

// index records the line of every mapping key and sequence item by dotted path.
func index(n *yaml.Node, path string, lines map[string]int) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := join(path, n.Content[i].Value)
			lines[p] = n.Content[i].Line
			index(n.Content[i+1], p, lines)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			p := join(path, strconv.Itoa(i))
			lines[p] = item.Line
			index(item, p, lines)
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// UnmarshalYAML accepts Go durations and a day suffix ("90d").
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	s := strings.TrimSpace(n.Value)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		v, err := strconv.ParseFloat(days, 64)
		if err != nil || v < 0 {
			return fmt.Errorf("line %d: invalid duration %q (use 90s, 15m, 24h or 7d)", n.Line, s)
		}
		d.Duration = time.Duration(v * float64(24*time.Hour))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: invalid duration %q (use 90s, 15m, 24h or 7d)", n.Line, s)
	}
	d.Duration = v
	return nil
}
