package sopsio

import (
	"encoding/json"
	"errors"
	"sort"

	"go.yaml.in/yaml/v3"
)

// EncodeValues writes a flat map of values, the inverse of DecryptValues before encryption: sorted keys
// and every value as a string, in the values file's format. Dotenv cannot carry every value (newlines),
// so it is refused.
func EncodeValues(values map[string]string, format Format) ([]byte, error) {
	switch format {
	case FormatJSON:
		return json.MarshalIndent(values, "", "  ")
	case FormatDotenv:
		return nil, errors.New("values set writes YAML or JSON values files; use sops to edit a dotenv one")
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	doc := &yaml.Node{Kind: yaml.MappingNode}
	for _, k := range keys {
		doc.Content = append(doc.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Value: k},
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: values[k]})
	}
	return yaml.Marshal(doc)
}

// EncryptValues encodes values (EncodeValues) and encrypts them to the age recipients.
func EncryptValues(values map[string]string, format Format, recipients []string) ([]byte, error) {
	plain, err := EncodeValues(values, format)
	if err != nil {
		return nil, err
	}
	return Encrypt(plain, format, recipients)
}
