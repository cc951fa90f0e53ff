package config

import (
	"bytes"
	"errors"
	"fmt"
	"math"
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
		return nil, yamlError(name, err, nil)
	}
	if len(root.Content) == 0 {
		return nil, &Error{File: name, Msg: "empty file; start from examples/demo/repo/rekey.yaml"}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, yamlError(name, err, &root)
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
	"config.Server", "a server", "config.Admin", "admin", "config.Derived", "a derived location",
	"config.Service", "a service", "config.Drain", "drain", "config.Swarm", "swarm")

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlError turns yaml.v3's "line N: msg" errors into file:line errors, one per problem. root, when
// known, names the field of an invalid duration.
func yamlError(name string, err error, root *yaml.Node) error {
	var de *durationError
	if errors.As(err, &de) {
		field := "a duration"
		if root != nil {
			if f := fieldAt(root.Content[0], "", de.line, de.col); f != "" {
				field = f
			}
		}
		return &Error{File: name, Line: de.line, Msg: fmt.Sprintf("invalid duration %q for %s: %s (%s)", de.value, field, de.reason, durationHelp)}
	}
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

// MaxDuration bounds every duration of the config: ten years. A larger one is a typo, or an attempt to
// overflow (1e300d wrapped around to a negative keep_previous: "keep the old key" meant "drop it now").
const MaxDuration = 3650 * 24 * time.Hour

const durationHelp = "use 90s, 15m, 24h or 7d; at most 3650d"

// durationError is an invalid duration at a line and column, for yamlError to name its field.
type durationError struct {
	line, col     int
	value, reason string
}

func (e *durationError) Error() string {
	return fmt.Sprintf("line %d: invalid duration %q: %s (%s)", e.line, e.value, e.reason, durationHelp)
}

// UnmarshalYAML accepts Go durations and a day suffix ("90d"): finite, not negative, at most MaxDuration.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	s := strings.TrimSpace(n.Value)
	bad := func(reason string) error {
		return &durationError{line: n.Line, col: n.Column, value: s, reason: reason}
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		v, err := strconv.ParseFloat(days, 64)
		switch {
		case err != nil && !errors.Is(err, strconv.ErrRange):
			return bad("not a number of days")
		case math.IsNaN(v):
			return bad("not a number")
		case v < 0:
			return bad("negative")
		case v > MaxDuration.Hours()/24: // +Inf and 1e300 too
			return bad("too long")
		}
		d.Duration = time.Duration(v * float64(24*time.Hour))
		return nil
	}
	v, err := time.ParseDuration(s)
	switch {
	case err != nil: // overflowing ones too: "time: invalid duration"
		return bad("not a duration")
	case v < 0:
		return bad("negative")
	case v > MaxDuration:
		return bad("too long")
	}
	d.Duration = v
	return nil
}

// fieldAt returns the dotted path of the mapping value at line and col under n, "" if none.
func fieldAt(n *yaml.Node, path string, line, col int) string {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := join(path, n.Content[i].Value)
			if v := n.Content[i+1]; v.Line == line && v.Column == col {
				return p
			}
			if f := fieldAt(n.Content[i+1], p, line, col); f != "" {
				return f
			}
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			if f := fieldAt(item, join(path, strconv.Itoa(i)), line, col); f != "" {
				return f
			}
		}
	}
	return ""
}
