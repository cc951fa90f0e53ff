package swarmio

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"

	"go.yaml.in/yaml/v3"
)

// ErrNoName says a stack file declares the secret without a literal `name:`.
var ErrNoName = errors.New("no name")

// validName is what Swarm accepts as an object name, without anything YAML would need to escape.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// ValidSecretName tells whether name can be a secret object's name (64 characters at most).
func ValidSecretName(name string) bool { return validName.MatchString(name) }

// nameScalar finds the scalar of `secrets: <key>: name:` in a stack file, with its byte range.
func nameScalar(data []byte, key string) (value string, start, end int, err error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return "", 0, 0, fmt.Errorf("failed to parse: %w", err)
	}
	n := mapValue(docRoot(&doc), "secrets")
	n = mapValue(n, key)
	n = mapValue(n, "name")
	if n == nil {
		return "", 0, 0, ErrNoName
	}
	if n.Kind != yaml.ScalarNode || !ValidSecretName(n.Value) {
		return "", 0, 0, fmt.Errorf("line %d: secrets.%s.name must be a literal object name (letters, digits, _ . -; at most 64), got %q", n.Line, key, n.Value)
	}
	start, err = offset(data, n.Line, n.Column)
	if err != nil {
		return "", 0, 0, err
	}
	width := len(n.Value)
	switch n.Style {
	case 0:
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		start++ // the quotes stay as they are
	default:
		return "", 0, 0, fmt.Errorf("line %d: secrets.%s.name must be a plain or quoted scalar", n.Line, key)
	}
	end = start + width
	if end > len(data) || string(data[start:end]) != n.Value {
		return "", 0, 0, fmt.Errorf("line %d: secrets.%s.name is not written as a single literal", n.Line, key)
	}
	return n.Value, start, end, nil
}

// SecretName returns the literal `name:` of a secret in a stack file; ErrNoName when there is none.
func SecretName(data []byte, key string) (string, error) {
	v, _, _, err := nameScalar(data, key)
	return v, err
}

// SetSecretName rewrites the literal `name:` of a secret in a stack file, keeping every other byte.
func SetSecretName(data []byte, key, name string) ([]byte, error) {
	if !ValidSecretName(name) {
		return nil, fmt.Errorf("invalid secret object name %q", name)
	}
	_, start, end, err := nameScalar(data, key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(data)-(end-start)+len(name))
	out = append(append(append(out, data[:start]...), name...), data[end:]...)
	return out, nil
}

func docRoot(doc *yaml.Node) *yaml.Node {
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		return doc.Content[0]
	}
	return nil
}

// mapValue is the value of key in a mapping node, nil when absent.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// offset is the byte offset of a 1-based line and column; the line must be ASCII up to the column, so
// that columns (counted in characters) and bytes agree.
func offset(data []byte, line, col int) (int, error) {
	pos := 0
	for l := 1; l < line; l++ {
		i := bytes.IndexByte(data[pos:], '\n')
		if i < 0 {
			return 0, fmt.Errorf("line %d not found", line)
		}
		pos += i + 1
	}
	for i := pos; i < pos+col-1; i++ {
		if i >= len(data) || data[i] >= 0x80 || data[i] == '\n' {
			return 0, fmt.Errorf("line %d: only ASCII may precede a secret's name", line)
		}
	}
	return pos + col - 1, nil
}
