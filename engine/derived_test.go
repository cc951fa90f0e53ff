package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/composeio"
	"github.com/rekeyhq/rekey/config"
	"github.com/rekeyhq/rekey/reconcile"
)

const derivedCompose = `services:
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}
  app:
    image: app
    environment:
      DATABASE_URL: ${DATABASE_URL}
    depends_on: [db]
  proxy:
    image: caddy
    volumes: ["./htpasswd:/etc/caddy/htpasswd:ro"]
    depends_on: [app]
`

const derivedSecrets = `servers:
  pg: {type: postgres, service: db, user: shop}
secrets:
  db-password:
    type: token
    server: pg
    derived:
      - env: DATABASE_URL
        template: "postgres://{{ .login }}:{{ urlquery .value }}@db:5432/app"
  admin-password:
    type: token
    derived:
      - file: htpasswd
        template: '{{ htpasswd "admin" .value }}'
`

func buildDerived(t *testing.T, secrets string, values map[string]string) (map[string]reconcile.Secret, error) {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"compose.yaml": derivedCompose,
		".env":         "POSTGRES_PASSWORD=x\nDATABASE_URL=postgres://shop_a:old@db:5432/app\n",
		"htpasswd":     "admin:$2y$04$" + strings.Repeat("a", 53) + "\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Parse("rekey.yaml", []byte("version: 1\ncompose: {project_dir: "+dir+", project_name: shop}\nvalues: v.yaml\n"+secrets))
	if err != nil {
		t.Fatal(err)
	}
	p, err := composeio.Load(context.Background(), dir, composeio.WithProjectName("shop"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Build(context.Background(), Input{Config: cfg, Project: p, Values: values, FP: func(v string) string { return "fp(" + v + ")" }})
	out := map[string]reconcile.Secret{}
	for _, s := range d.Secrets {
		for i := range s.Current {
			s.Current[i].Path = strings.TrimPrefix(s.Current[i].Path, dir+"/")
		}
		out[s.Name] = s
	}
	return out, err
}

func TestBuildDerivedLocations(t *testing.T) {
	got, err := buildDerived(t, derivedSecrets, map[string]string{"db-password": "p@ss", "admin-password": "a"})
	if err != nil {
		t.Fatal(err)
	}
	db, admin := got["db-password"], got["admin-password"]
	if len(db.Current) != 1 || db.Current[0] != (reconcile.Location{Path: ".env", Key: "DATABASE_URL", Form: "db-password#0"}) {
		t.Errorf("db-password locations = %+v", db.Current)
	}
	if len(db.Consumers) != 1 || db.Consumers[0].Name != "app" || db.Consumers[0].Action != reconcile.Recreate || db.Server == nil {
		t.Errorf("db-password consumers = %+v, server %+v", db.Consumers, db.Server)
	}
	if len(admin.Current) != 1 || admin.Current[0].Form != "admin-password#0" || admin.Current[0].Key != "" ||
		len(admin.Consumers) != 1 || admin.Consumers[0].Name != "proxy" || admin.Consumers[0].Action != reconcile.Restart {
		t.Errorf("admin-password: %+v %+v", admin.Current, admin.Consumers)
	}
	if vars := ProbeVars(mustConfig(t, derivedSecrets)); strings.Join(vars, ",") != "DATABASE_URL" {
		t.Errorf("ProbeVars = %v", vars)
	}
}

func mustConfig(t *testing.T, secrets string) *config.Config {
	cfg, err := config.Parse("rekey.yaml", []byte("version: 1\ncompose: {project_dir: /srv/x}\nvalues: v.yaml\n"+secrets))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestBuildDerivedBadInput: each problem is one message naming rekey.yaml:LINE (the template's line)
// and the secret, and never the value.
func TestBuildDerivedBadInput(t *testing.T) {
	const line = "rekey.yaml:12: secret db-password: derived DATABASE_URL"
	long := strings.Repeat("x", 70000)
	for _, c := range []struct{ template, value, want string }{
		{"postgres://{{ .login }:x@db", "pw", line + ": the template does not parse"},
		{"{{ shout .value }}", "pw", line + ": the template does not parse: line 1: function \"shout\" not defined"},
		{"{{ call .value }}", "pw", line + `: the template calls function "call", which forms do not have`},
		{"{{ .Env.HOME }}", "pw", line + ": the template reads .Env.HOME: forms know .value and .login only"},
		{`{{ secret "ghost" }}`, "pw", line + `: the template names secret "ghost", which is not declared under secrets`},
		{`{{ "" }}`, "pw", "rekey.yaml:12: secret db-password: derived DATABASE_URL renders empty"},
		{"{{ .value }}", long, "rekey.yaml:12: secret db-password: derived DATABASE_URL renders 70000 bytes, more than the 65536 a variable may hold"},
		{"{{ .value }}", "line1\nline2", "rekey.yaml:12: secret db-password: derived DATABASE_URL renders a line break, which the variable cannot hold"},
		{"{{ base64 .value }}", "pw", "rekey.yaml:11: secret db-password: its server needs the current value read back from the stack, and derived DATABASE_URL cannot give it back"},
		{"postgres://shop_a:{{ urlquery .value }}@db:5432/app", "pw", "rekey.yaml:11: secret db-password: postgres logins take turns, and neither login_env nor a derived location ({{ .login }}) writes the login"},
	} {
		secrets := strings.Replace(derivedSecrets, `"postgres://{{ .login }}:{{ urlquery .value }}@db:5432/app"`, "'"+c.template+"'", 1)
		_, err := buildDerived(t, secrets, map[string]string{"db-password": c.value, "admin-password": "a"})
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: got %v\nwant %s", c.template, err, c.want)
		}
		if err != nil && len(c.value) > 2 && strings.Contains(err.Error(), c.value) {
			t.Errorf("%s: the error shows the value", c.template)
		}
	}
	_, err := buildDerived(t, strings.Replace(derivedSecrets, "type: token\n    derived", "type: token\n    derived", 1)+`  plain:
    type: token
    derived:
      - env: DATABASE_URL
        template: "{{ .login }}"
`, map[string]string{"db-password": "a", "admin-password": "a", "plain": "x"})
	if err == nil || !strings.Contains(err.Error(), "secret plain: derived DATABASE_URL reads .login, but the secret has no server") {
		t.Errorf(".login without a server: %v", err)
	}
}

func TestBuildDerivedLocationBelongsToOneSecret(t *testing.T) {
	_, err := buildDerived(t, derivedSecrets+`  url-token:
    type: token
    env: {value: DATABASE_URL}
`, map[string]string{"db-password": "a", "admin-password": "a", "url-token": "postgres://x"})
	if err == nil || !strings.Contains(err.Error(), "secrets db-password and url-token both live at") {
		t.Fatalf("a plain and a derived DATABASE_URL: %v", err)
	}
}
