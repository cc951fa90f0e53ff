package derive

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"
)

func declared(names ...string) func(string) bool {
	return func(n string) bool {
		for _, x := range names {
			if x == n {
				return true
			}
		}
		return false
	}
}

func mustParse(t *testing.T, src string) *Form {
	t.Helper()
	f, err := Parse(src, declared("db", "other"))
	if err != nil {
		t.Fatalf("Parse(%q): %v", src, err)
	}
	return f
}

const hard = "p@ss:w/rd?#%+ ä€😀&="

func TestParseRefuses(t *testing.T) {
	for src, want := range map[string]string{
		"{{ .value ":                        "does not parse",
		"{{ nope .value }}":                 "does not parse", // text/template: function not defined
		"{{ call .value }}":                 `function "call"`,
		"{{ printf \"%s\" .value }}":        `function "printf"`,
		"{{ index .value 0 }}":              `function "index"`,
		"{{ html .value }}":                 `function "html"`,
		"{{ .Env }}":                        "forms know .value and .login only",
		"{{ .value.x }}":                    "forms know .value and .login only",
		"{{ $x := .value }}{{ $x }}":        "declares a variable",
		"{{ range .value }}{{ end }}":       "the template uses",
		"{{ template \"x\" }}":              "the template uses",
		"{{ define \"x\" }}a{{ end }}b":     "templates of its own",
		"{{ secret \"ghost\" }}":            `secret "ghost", which is not declared`,
		"{{ secret .value }}":               "secret takes one name in quotes",
		"   ":                               "empty",
		"{{ . }}":                           "the template uses",
		"{{ with .value }}{{ . }}{{ end }}": "the template uses",
		"{{ base64 (bcrypt .value) }}":      "passes the output of bcrypt on to another function",
		"{{ .value | bcrypt | base64 }}":    "passes the output of bcrypt on to another function",
		`{{ json (htpasswd "a" .value) }}`:  "passes the output of htpasswd on to another function",
	} {
		_, err := Parse(src, declared("db"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", src, err, want)
		}
	}
}

func TestRenderFunctions(t *testing.T) {
	d := Data{Value: hard, Login: "shop_b", Secret: func(n string) (string, bool) { return "o:ther", n == "other" }}
	for src, check := range map[string]func(string) bool{
		"postgres://{{ .login }}:{{ urlquery .value }}@db:5432/app?sslmode=disable": func(out string) bool {
			u, err := url.Parse(out)
			p, _ := u.User.Password()
			return err == nil && p == hard && u.User.Username() == "shop_b" && !strings.Contains(out, "+") == false
		},
		"{{ base64 .value }}": func(out string) bool {
			b, err := base64.StdEncoding.DecodeString(out)
			return err == nil && string(b) == hard
		},
		"{{ sha256 .value }}": func(out string) bool { return len(out) == 64 },
		`{"password": {{ json .value }}}`: func(out string) bool {
			var m map[string]string
			return json.Unmarshal([]byte(out), &m) == nil && m["password"] == hard
		},
		"password: {{ yaml .value }}\n": func(out string) bool {
			var m map[string]string
			return yaml.Unmarshal([]byte(out), &m) == nil && m["password"] == hard
		},
		"{{ urluser .login }}:{{ urlquery (secret \"other\") }}": func(out string) bool { return out == "shop_b:o%3Ather" },
	} {
		out, err := mustParse(t, src).Render(d)
		if err != nil || !check(out) {
			t.Errorf("Render(%q) failed: %v", src, err)
		}
	}
}

func TestURLPasswordIsNotQueryEscape(t *testing.T) {
	if got := URLPassword("a b+c@d"); got != "a%20b+c%40d" {
		t.Fatalf("URLPassword = %q", got)
	}
}

func TestBcryptKeepsCostAndHash(t *testing.T) {
	f := mustParse(t, "admin:{{ bcrypt .value }}\n")
	old, _ := bcrypt.GenerateFromPassword([]byte("old"), 5)
	out, err := f.Render(Data{Value: hard, Existing: "admin:" + string(old) + "\n"})
	if err != nil {
		t.Fatal(err)
	}
	h := strings.TrimSuffix(strings.TrimPrefix(out, "admin:"), "\n")
	if c, err := bcrypt.Cost([]byte(h)); err != nil || c != 5 {
		t.Fatalf("cost %d (%v), want 5 kept from the existing hash", c, err)
	}
	if !f.Match(out, Data{Value: hard}, nil) || f.Match(out, Data{Value: "old"}, nil) {
		t.Fatal("Match does not check the hash against the value")
	}
	again, _ := f.Render(Data{Value: hard, Existing: out})
	if again != out {
		t.Fatal("a hash that verifies the value was not kept")
	}
}

func TestHtpasswdLine(t *testing.T) {
	f := mustParse(t, `{{ htpasswd "admin" .value }}`)
	out, err := f.Render(Data{Value: "pw", Existing: "admin:$2y$04$" + strings.Repeat("a", 53)})
	if err != nil || !strings.HasPrefix(out, "admin:$2y$04$") {
		t.Fatalf("htpasswd = %q, %v", out, err)
	}
	if !f.Match(out, Data{Value: "pw"}, nil) || f.Match("admin:"+out[6:]+"x", Data{Value: "pw"}, nil) {
		t.Fatal("Match of an htpasswd line")
	}
	if _, err := f.Render(Data{Value: strings.Repeat("x", 73)}); err == nil || !strings.Contains(err.Error(), "72 bytes") {
		t.Fatalf("a value bcrypt cannot hash: %v", err)
	}
}

func TestMatchURLAfterParsing(t *testing.T) {
	f := mustParse(t, "postgres://{{ .login }}:{{ urlquery .value }}@db:5432/app?a=1&b=2")
	d := Data{Value: "p+w/@"}
	live := "postgres://shop_b:p%2Bw%2F%40@DB:5432/app?b=2&a=1"
	if !f.Match(live, d, []string{"shop_a", "shop_b"}) {
		t.Fatal("an equivalent URL does not match")
	}
	if f.Match(live, d, []string{"shop_a"}) || f.Match(live, Data{Value: "p+w/"}, []string{"shop_b"}) {
		t.Fatal("another login or password matches")
	}
	// Everything but the password and the login must be as the template writes it: another scheme, host,
	// port, database, parameter or fragment is drift, not an equivalent URL.
	for _, other := range []string{
		"mysql://shop_b:p%2Bw%2F%40@db:5432/app?a=1&b=2",
		"postgres://shop_b:p%2Bw%2F%40@db2:5432/app?a=1&b=2",
		"postgres://shop_b:p%2Bw%2F%40@db:5433/app?a=1&b=2",
		"postgres://shop_b:p%2Bw%2F%40@db:5432/other?a=1&b=2",
		"postgres://shop_b:p%2Bw%2F%40@db:5432/app?a=1&b=3",
		"postgres://shop_b:p%2Bw%2F%40@db:5432/app?a=1",
		"postgres://shop_b:p%2Bw%2F%40@db:5432/app?a=1&b=2#x",
		"postgres://db:5432/app?a=1&b=2",
	} {
		if f.Match(other, d, []string{"shop_b"}) {
			t.Errorf("%s matches the template's URL", other)
		}
	}
	v, login, ok := f.Decode(live, Data{})
	if !ok || v != "p+w/@" || login != "shop_b" {
		t.Fatalf("Decode = %q %q %v", v, login, ok)
	}
	if !f.Decodable(Data{}) || mustParse(t, "{{ base64 .value }}").Decodable(Data{}) {
		t.Fatal("Decodable")
	}
}

func TestPipelinesCompose(t *testing.T) {
	out, err := mustParse(t, "{{ .value | sha256 | base64 }}").Render(Data{Value: "x"})
	if err != nil || len(out) != 88 {
		t.Fatalf("pipeline = %q, %v", out, err)
	}
}
