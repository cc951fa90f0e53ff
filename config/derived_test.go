package config

import (
	"strings"
	"testing"
)

const derivedHead = `version: 1
compose: {project_dir: /srv/shop}
values: secrets.sops.yaml
secrets:
  db-password:
    type: token
    server: db
`

const derivedTail = `servers:
  db: {type: postgres, service: db, user: shop}
`

func TestDerivedParses(t *testing.T) {
	c, err := Parse("rekey.yaml", []byte(derivedHead+`    derived:
      - env: DATABASE_URL
        template: "postgres://{{ .login }}:{{ urlquery .value }}@db:5432/app"
      - file: secrets/htpasswd
        template: '{{ htpasswd "admin" .value }}'
`+derivedTail))
	if err != nil {
		t.Fatal(err)
	}
	d := c.Secrets["db-password"].Derived
	if len(d) != 2 || d[0].Env != "DATABASE_URL" || !d[0].SingleLine() || d[1].SingleLine() || c.Line("secrets.db-password.derived.1.template") != 12 {
		t.Fatalf("derived = %+v, template line %d", d, c.Line("secrets.db-password.derived.1.template"))
	}
}

func TestDerivedBadInput(t *testing.T) {
	for body, want := range map[string]string{
		"      - env: DATABASE_URL\n":                            "rekey.yaml:9: secret db-password: derived DATABASE_URL needs a template",
		"      - env: A\n        file: x\n        template: x\n": "rekey.yaml:9: secret db-password: a derived location has exactly one of env, file or host_file",
		"      - env: 1A\n        template: x\n":                 "rekey.yaml:9: secret db-password: \"1A\" is not a valid variable name",
		"      - file: ../x\n        template: x\n":              "rekey.yaml:9: secret db-password: file ../x is outside compose.project_dir",
		"      - host_file: etc/x\n        template: x\n":        "rekey.yaml:9: secret db-password: host_file must be an absolute path",
		"      - env: X\n        key: Y\n        template: x\n":  "rekey.yaml:10: secret db-password: key belongs to a derived host_file",
		"      - env: X\n        tempalte: x\n":                  "rekey.yaml:10: field tempalte is not a known field of a derived location",
	} {
		_, err := Parse("rekey.yaml", []byte(derivedHead+"    derived:\n"+body+derivedTail))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", body, err, want)
		}
	}
}
