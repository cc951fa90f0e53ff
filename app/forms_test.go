package app

import (
	"slices"
	"testing"

	"github.com/rekeyhq/rekey/config"
)

// TestFormValuesJoinTheRedactor: the URL a rotation will write, and the password as a URL carries it,
// are redacted like the value itself; a bcrypt form is not rendered (a hash is not the value).
func TestFormValuesJoinTheRedactor(t *testing.T) {
	cfg, err := config.Parse("rekey.yaml", []byte(`version: 1
compose: {project_dir: /srv/x}
values: v.yaml
servers:
  db: {type: postgres, service: db, user: shop}
secrets:
  db-password:
    type: token
    server: db
    derived:
      - env: DATABASE_URL
        template: "postgres://{{ .login }}:{{ urlquery .value }}@db/app"
      - file: users
        template: "admin {{ bcrypt .value }}"
`))
	if err != nil {
		t.Fatal(err)
	}
	s := &Session{Config: cfg, values: map[string]string{"db-password": "p@ss/word"}}
	got := s.formValues()
	for _, want := range []string{"p%40ss%2Fword", "postgres://shop_a:p%40ss%2Fword@db/app", "postgres://shop_b:p%40ss%2Fword@db/app"} {
		if !slices.Contains(got, want) {
			t.Errorf("formValues lacks %q: %q", want, got)
		}
	}
	if len(got) != 3 {
		t.Errorf("formValues = %q, want the escaped password and the two URLs only", got)
	}
}
