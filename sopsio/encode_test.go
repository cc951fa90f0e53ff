package sopsio

import (
	"strings"
	"testing"

	"filippo.io/age"
)

// TestEncodeValuesRoundTrips: what EncryptValues writes, DecryptValues reads back unchanged, in YAML and
// JSON, values that look like numbers, booleans or hold newlines included; dotenv is refused.
func TestEncodeValuesRoundTrips(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]string{"b": "0123", "a": "true", "c": "line one\nline two", "d": "null"}
	for _, path := range []string{"values.yaml", "values.json"} {
		enc, err := EncryptValues(values, FormatForPath(path), []string{id.Recipient().String()})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		got, err := DecryptValues(enc, path, []age.Identity{id})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(got) != len(values) {
			t.Fatalf("%s: got %d values, want %d", path, len(got), len(values))
		}
		for k, v := range values {
			if got[k] != v {
				t.Errorf("%s: %s = %q, want %q", path, k, got[k], v)
			}
		}
	}
	plain, _ := EncodeValues(values, FormatYAML)
	if !strings.HasPrefix(string(plain), "a: ") {
		t.Errorf("keys are not sorted:\n%s", plain)
	}
	if _, err := EncodeValues(values, FormatDotenv); err == nil {
		t.Error("dotenv was accepted")
	}
}
