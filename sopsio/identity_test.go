package sopsio

import (
	"strings"
	"testing"

	"filippo.io/age"
)

func TestLoadIdentities(t *testing.T) {
	a, b := newIdentity(t), newIdentity(t)
	keys := "# created: 2026-01-01T00:00:00Z\n# public key: " + a.Recipient().String() + "\n" + a.String() + "\n\n  # indented comment\n" + b.String() + "\r\n"
	ids, err := LoadIdentities(strings.NewReader(keys))
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || ids[0].(*age.X25519Identity).String() != a.String() || ids[1].(*age.X25519Identity).String() != b.String() {
		t.Fatalf("got %d identities", len(ids))
	}

	// A corrupted key: the error names the line, never the key.
	bad := a.String()[:len(a.String())-3] + "qqq"
	_, err = LoadIdentities(strings.NewReader("# comment\n" + b.String() + "\n" + bad + "\n"))
	if err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("error = %v", err)
	}
	for _, s := range []string{bad[16:], b.String()[16:], bad[20:30]} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error shows key material: %v", err)
		}
	}

	for _, in := range []string{"", "# only comments\n\n", "not a key\n", a.Recipient().String() + "\n"} {
		if _, err := LoadIdentities(strings.NewReader(in)); err == nil {
			t.Errorf("LoadIdentities(%q) succeeded", in)
		}
	}
}

func TestDefaultKeyFile(t *testing.T) {
	env := func(m map[string]string) func(string) string {
		return func(k string) string { return m[k] }
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{nil, "/home/u/.config/sops/age/keys.txt"},
		{map[string]string{"SOPS_AGE_KEY_FILE": "/k.txt", "XDG_CONFIG_HOME": "/x"}, "/k.txt"},
		{map[string]string{"XDG_CONFIG_HOME": "/x"}, "/x/sops/age/keys.txt"},
		{map[string]string{"XDG_CONFIG_HOME": "relative"}, "/home/u/.config/sops/age/keys.txt"},
	} {
		if got := DefaultKeyFile(env(tc.env), "/home/u"); got != tc.want {
			t.Errorf("DefaultKeyFile(%v) = %q, want %q", tc.env, got, tc.want)
		}
	}
}
