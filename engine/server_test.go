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

const serverCompose = `services:
  db:
    image: docker.io/library/postgres:15@sha256:0123
    environment:
      POSTGRES_PASSWORD: ${DB_PASSWORD}
  backup:
    image: prodrigestivill/postgres-backup-local:15
    environment:
      POSTGRES_PASSWORD: ${DB_PASSWORD}
  both:
    image: postgres:15
    environment:
      POSTGRES_PASSWORD: ${DB_PASSWORD}
      PGPASSWORD: ${DB_PASSWORD}
  redis:
    image: redis
    environment:
      REDIS_PASSWORD: ${REDIS_PASSWORD}
  app:
    image: app
    environment:
      DATABASE_USER: ${DB_USER}
      DATABASE_PASSWORD: ${DB_PASSWORD}
      REDIS_PASSWORD: ${REDIS_PASSWORD}
    depends_on: [db, redis]
`

const serverSecrets = `servers:
  cache: {type: redis, service: redis}
  pg: {type: postgres, service: db, user: shop}
secrets:
  redis-password:
    type: token
    env: {value: REDIS_PASSWORD}
    server: cache
  db-password:
    type: token
    env: {value: DB_PASSWORD}
    login_env: DB_USER
    server: pg
`

func buildServers(t *testing.T, secrets string) (map[string]reconcile.Secret, error) {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"compose.yaml": serverCompose,
		".env":         "DB_PASSWORD=old-db\nDB_USER=shop_a\nREDIS_PASSWORD=old-redis\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	src := "version: 1\ncompose: {project_dir: " + dir + ", project_name: shop}\nvalues: secrets.sops.yaml\n" + secrets
	cfg, err := config.Parse("rekey.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	p, err := composeio.Load(context.Background(), dir, composeio.WithProjectName("shop"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Build(context.Background(), Input{Config: cfg, Project: p, FP: func(v string) string { return "fp(" + v + ")" },
		Values: map[string]string{"redis-password": "new-redis", "db-password": "new-db"}})
	out := map[string]reconcile.Secret{}
	for _, s := range d.Secrets {
		for i := range s.Current {
			s.Current[i].Path = filepath.Base(s.Current[i].Path)
		}
		for i := range s.Logins {
			s.Logins[i].Path = filepath.Base(s.Logins[i].Path)
		}
		out[s.Name] = s
	}
	return out, err
}

func consumers(s reconcile.Secret) string {
	var parts []string
	for _, c := range s.Consumers {
		parts = append(parts, c.Name+"/"+string(c.Action)+"/"+strings.Join(c.Via, "+"))
	}
	return strings.Join(parts, " ")
}

func TestBuildServers(t *testing.T) {
	got, err := buildServers(t, serverSecrets)
	if err != nil {
		t.Fatal(err)
	}
	redis := got["redis-password"]
	// The server's own service leaves the consumers: it rolls after the revoke.
	if c := consumers(redis); c != "app/recreate/interpolation:environment" {
		t.Errorf("redis consumers = %s", c)
	}
	if s := redis.Server; s == nil || s.Name != "cache" || s.Service != "redis" || s.Roll != reconcile.Recreate {
		t.Errorf("redis server = %+v", s)
	}
	db := got["db-password"]
	// db reads the password only as POSTGRES_PASSWORD: bootstrap-only, never rolled, and as the server's
	// own service it is not rolled after the revoke either. "both" also reads it as PGPASSWORD: a consumer.
	// backup reads POSTGRES_PASSWORD at every start (not a database image): a real consumer.
	if c := consumers(db); c != "app/recreate/interpolation:environment backup/recreate/interpolation:environment both/recreate/interpolation:environment" {
		t.Errorf("db consumers = %s", c)
	}
	if s := db.Server; s == nil || s.Service != "db" || s.Roll != reconcile.NoRoll {
		t.Errorf("db server = %+v, want db not rolled (bootstrap-only)", s)
	}
	if len(db.Logins) != 1 || db.Logins[0] != (reconcile.Location{Path: ".env", Key: "DB_USER"}) {
		t.Errorf("db logins = %v", db.Logins)
	}
	if len(db.Current) != 1 || db.Current[0].Key != "DB_PASSWORD" {
		t.Errorf("db current = %v", db.Current)
	}
}

func TestBuildBootstrapOnlyConsumer(t *testing.T) {
	got, err := buildServers(t, `secrets:
  db-password:
    type: token
    env: {value: DB_PASSWORD}
`)
	if err != nil {
		t.Fatal(err)
	}
	c := consumers(got["db-password"])
	if !strings.Contains(c, "db/none/interpolation:environment+bootstrap-only:POSTGRES_PASSWORD") ||
		!strings.Contains(c, "both/recreate") || !strings.Contains(c, "app/recreate") || !strings.Contains(c, "backup/recreate") {
		t.Errorf("consumers = %s", c)
	}
}

func TestBuildServerErrors(t *testing.T) {
	_, err := buildServers(t, strings.Replace(serverSecrets, "service: redis}", "service: nosuch}", 1))
	if err == nil || !strings.Contains(err.Error(), `rekey.yaml:5: server cache: unknown service "nosuch"`) {
		t.Errorf("unknown service: %v", err)
	}
	_, err = buildServers(t, strings.Replace(serverSecrets, "service: redis}", "service: redis, admin: {user: rekey, password: redis-admin}}", 1))
	if err == nil || !strings.Contains(err.Error(), "the admin password redis-admin is missing from the values file") {
		t.Errorf("missing admin password: %v", err)
	}
}
