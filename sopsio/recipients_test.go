package sopsio

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestRecipientsFor(t *testing.T) {
	var r [4]string
	for i := range r {
		r[i] = newIdentity(t).Recipient().String()
	}
	conf := strings.NewReplacer("R0", r[0], "R1", r[1], "R2", r[2], "R3", r[3]).Replace(`
creation_rules:
  - path_regex: ^prod/.*\.yaml$
    age: R0, R1,
  - path_regex: \.env$
    age:
      - R2
      - R3,R0
  - path_regex: ^groups/
    key_groups:
      - age:
          - R1
        merge:
          - age: [R2]
          - age: [R2, R3]
  - path_regex: ^mixed/
    age: R0
    pgp: 85D77543B3D624B63CEA9E6DBC17301B491B3F21
  - path_regex: ^mixed-group/
    key_groups:
      - age: [R0]
        kms:
          - arn: arn:aws:kms:eu-west-1:111122223333:key/abc
  - path_regex: ^shamir/
    shamir_threshold: 2
    key_groups:
      - age: [R0]
      - age: [R1]
  - path_regex: ^none/
    age: ""
  - path_regex: ^bad/
    age: age1notarecipient
  - path_regex: ^ssh/
    age: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAjuWb4rSK4dl/7hF5PUqeVl+jd2YrbSJ0gH3h8vkHOe
  - age: R3
`)
	dir := filepath.Join(t.TempDir(), "repo")
	tests := []struct {
		configDir, path string
		want            []string
		err             string
	}{
		{dir, "prod/app.yaml", []string{r[0], r[1]}, ""},
		{dir, filepath.Join(dir, "prod/app.yaml"), []string{r[0], r[1]}, ""}, // absolute: made relative to configDir
		{"", "./prod/app.yaml", []string{r[0], r[1]}, ""},
		{dir, "prod/app.env", []string{r[2], r[3], r[0]}, ""}, // first rule needs .yaml
		{dir, "prod/app.yaml.env", []string{r[2], r[3], r[0]}, ""},
		{dir, "groups/a.yaml", []string{r[2], r[3], r[1]}, ""}, // merge first, as sops; deduplicated
		{dir, "staging/app.yaml", []string{r[3]}, ""},          // catch-all rule
		{dir, "/elsewhere/prod/app.yaml", []string{r[3]}, ""},  // outside configDir: whole path matched
		{dir, "mixed/a.yaml", nil, "pgp"},
		{dir, "mixed-group/a.yaml", nil, "kms"},
		{dir, "shamir/a.yaml", nil, "key_groups"},
		{dir, "none/a.yaml", nil, "no age recipient"},
		{dir, "bad/a.yaml", nil, "age1notarecipient"},
		{dir, "ssh/a.yaml", nil, "SSH"},
	}
	for _, tc := range tests {
		got, err := RecipientsFor([]byte(conf), tc.configDir, tc.path)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("RecipientsFor(%q) error = %v, want one containing %q", tc.path, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("RecipientsFor(%q): %v", tc.path, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("RecipientsFor(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}
}

func TestRecipientsForErrors(t *testing.T) {
	r := newIdentity(t).Recipient().String()
	for _, tc := range []struct{ conf, err string }{
		{"creation_rules:\n  - path_regex: ^a/\n    age: " + r + "\n", "no creation rule matches"},
		{"stores:\n  yaml:\n    indent: 2\n", "no creation_rules"},
		{"", "no creation_rules"},
		{"creation_rules:\n  - path_regex: '(['\n    age: " + r + "\n", "invalid path_regex"},
		{"creation_rules: [", "failed to find the age recipients of b/x.yaml"},
		{"creation_rules:\n  - age: {a: b}\n", "want a string or a list"},
	} {
		_, err := RecipientsFor([]byte(tc.conf), "/repo", "b/x.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("RecipientsFor(%q) error = %v, want one containing %q", tc.conf, err, tc.err)
		}
	}
	// First match wins, even if a later rule would fail.
	got, err := RecipientsFor([]byte("creation_rules:\n  - age: "+r+"\n  - path_regex: '(['\n"), "/repo", "b/x.yaml")
	if err != nil || len(got) != 1 || got[0] != r {
		t.Errorf("got %v, %v", got, err)
	}
}
