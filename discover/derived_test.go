package discover

import (
	"net/url"
	"strings"
	"testing"
)

func TestDerivedTemplate(t *testing.T) {
	const pw = "p@ss:/?#%+ä-1234"
	a := &Secret{Name: "db", value: pw}
	for _, c := range []struct{ written, want string }{
		{"postgres://app:p%40ss%3A%2F%3F%23%25+%C3%A4-1234@db:5432/app?sslmode=disable", "postgres://app:{{ urlquery .value }}@db:5432/app?sslmode=disable"},
		{"mysql://u:p%40ss%3A%2F%3F%23%25+%C3%A4-1234x@h/db", ""}, // the URL's password is not the value: no proposal
		{"user:" + pw + "@tcp(db:3306)/app", "user:{{ .value }}@tcp(db:3306)/app"},
		{"{{weird}} " + pw, `{{ "{{" }}weird}} {{ .value }}`},
	} {
		got, ok := derivedTemplate(c.written, pw, []*Secret{a}, a, nil)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("derivedTemplate(%q) = %q %v, want %q", c.written, got, ok, c.want)
		}
	}
	other := &Secret{Name: "other", value: "other-secret-value"}
	if _, ok := derivedTemplate("postgres://app:"+pw+"@db/app?key=other-secret-value", pw, []*Secret{a, other}, a, nil); ok {
		t.Error("a template holding another secret's value was proposed")
	}
	// rekey.yaml is plaintext: the secret's own value left elsewhere in the URL, raw or escaped, is no
	// proposal either.
	const own = "Sup3rS3cretPassw0rd"
	b := &Secret{Name: "db", value: own}
	for _, written := range []string{
		"postgres://app:" + own + "@db/app?backup_password=" + own,
		"postgres://app:" + own + "@db/app?x=" + url.QueryEscape(own+"/"),
	} {
		if tmpl, ok := derivedTemplate(written, own, []*Secret{b}, b, nil); ok {
			t.Errorf("proposed %q, which holds the value itself", tmpl)
		}
	}
}

func TestReference(t *testing.T) {
	for line, want := range map[string]string{
		"URL=postgres://app:${DB_PASSWORD}@db/app\n":     "DB_PASSWORD",
		"URL=\"postgres://app:$DB_PASSWORD@db/app\"\n":   "DB_PASSWORD",
		"URL=postgres://${USER}:${DB_PASSWORD}@db/app\n": "",
		"URL=postgres://app:${DB_PASSWORD:-x}@db/app\n":  "",
		"URL='postgres://app:${DB_PASSWORD}@db/app'\n":   "",
	} {
		_, ref, ok := reference([]byte(line), "URL")
		if ref != want || ok != (want != "") {
			t.Errorf("reference(%q) = %q %v, want %q", strings.TrimSpace(line), ref, ok, want)
		}
	}
}
