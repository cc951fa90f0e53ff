package derive

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// FuzzRoundTrip: whatever the password, every function's output gives it back (or, for hashes,
// verifies it), and a URL form decodes to it.
func FuzzRoundTrip(f *testing.F) {
	for _, s := range []string{hard, "@:/?#%+", "ä", "a b", "%41", "+", "x"} {
		f.Add(s)
	}
	forms := map[string]*Form{}
	for _, src := range []string{
		"postgres://{{ .login }}:{{ urlquery .value }}@db:5432/app?sslmode=disable",
		"{{ base64 .value }}", `{"p": {{ json .value }}}`, "p: {{ yaml .value }}", "{{ bcrypt .value }}",
		`{{ htpasswd "admin" .value }}`, "{{ urluser .value }}",
	} {
		form, err := Parse(src, declared())
		if err != nil {
			f.Fatal(err)
		}
		forms[src] = form
	}
	cheap := "$2a$04$" + strings.Repeat("a", 53) // an existing hash of cost 4 keeps the fuzzing fast
	f.Fuzz(func(t *testing.T, v string) {
		if v == "" || !utf8.ValidString(v) || strings.ContainsRune(v, 0) || len(v) > 72 {
			return
		}
		d := Data{Value: v, Login: "shop_a", Existing: cheap}
		out := map[string]string{}
		for src, form := range forms {
			o, err := form.Render(d)
			if err != nil {
				t.Fatalf("Render(%q): %v", src, err)
			}
			if !form.Match(o, d, nil) {
				t.Fatalf("%q does not match its own rendering", src)
			}
			out[src] = o
		}
		u, err := url.Parse(out["postgres://{{ .login }}:{{ urlquery .value }}@db:5432/app?sslmode=disable"])
		if p, _ := u.User.Password(); err != nil || p != v {
			t.Fatalf("URL password does not round-trip: %v", err)
		}
		dec, _, ok := forms["postgres://{{ .login }}:{{ urlquery .value }}@db:5432/app?sslmode=disable"].Decode(out["postgres://{{ .login }}:{{ urlquery .value }}@db:5432/app?sslmode=disable"], Data{})
		if !ok || dec != v {
			t.Fatal("URL form does not decode")
		}
		if b, err := base64.StdEncoding.DecodeString(out["{{ base64 .value }}"]); err != nil || string(b) != v {
			t.Fatal("base64 does not round-trip")
		}
		var j map[string]string
		if err := json.Unmarshal([]byte(out[`{"p": {{ json .value }}}`]), &j); err != nil || j["p"] != v {
			t.Fatalf("json does not round-trip: %v", err)
		}
		var y map[string]string
		if err := yaml.Unmarshal([]byte(out["p: {{ yaml .value }}"]), &y); err != nil || y["p"] != v {
			t.Fatalf("yaml does not round-trip: %v", err)
		}
		if uu, err := url.Parse("http://" + out["{{ urluser .value }}"] + "@h/"); err != nil || uu.User.Username() != v {
			t.Fatalf("urluser does not round-trip: %v", err)
		}
	})
}
