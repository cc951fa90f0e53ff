package sopsio

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// FileRecipients returns the age recipients an encrypted YAML or JSON document is encrypted to, from its
// SOPS metadata. Re-encrypting to exactly these keeps the set of readers as it is, whatever a (possibly
// tampered) .sops.yaml now says.
func FileRecipients(data []byte, format Format) ([]string, error) {
	if format == FormatDotenv {
		return nil, &Error{Reason: ReasonMalformed, Err: fmt.Errorf("reading recipients from a dotenv file is not supported; use YAML or JSON")}
	}
	var doc struct {
		Sops *struct {
			Age []struct {
				Recipient string `yaml:"recipient"`
			} `yaml:"age"`
		} `yaml:"sops"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil { // YAML is a superset of JSON
		return nil, &Error{Reason: ReasonMalformed, Err: fmt.Errorf("failed to parse the SOPS metadata")}
	}
	if doc.Sops == nil {
		return nil, &Error{Reason: ReasonNotEncrypted, Err: fmt.Errorf("no sops metadata")}
	}
	var out []string
	for _, a := range doc.Sops.Age {
		if a.Recipient != "" {
			out = append(out, a.Recipient)
		}
	}
	if len(out) == 0 {
		return nil, &Error{Reason: ReasonNoMatchingKey, Err: fmt.Errorf("the file names no age recipient")}
	}
	return out, nil
}
