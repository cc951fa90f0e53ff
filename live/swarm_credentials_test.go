package live

import (
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/config"
)

// TestSwarmCredentials: on a swarm, a PostgreSQL server gets its driver (reaching it by relay jobs); a
// server type no relay can drive is refused by name; a server no secret names is not built.
func TestSwarmCredentials(t *testing.T) {
	const yaml = `version: 1
compose: {project_dir: /srv/shop, files: [stack.yaml]}
swarm: {stack: shop, relay_image: rekey:dev}
values: secrets.sops.yaml
servers:
  db: {type: postgres, service: db, user: shop}
  unused: {type: redis, service: cache}
secrets:
  db-password:
    type: token
    server: db
    derived:
      - file: secrets/db_url
        template: "postgres://{{ .login }}:{{ urlquery .value }}@db:5432/shop"
`
	cfg, err := config.Parse("rekey.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	values := func(string) (string, bool) { return "", false }
	creds, err := NewSwarmCredentials(cfg, values, nil, "shop", "rekey:dev")
	if err != nil {
		t.Fatal(err)
	}
	if d, err := creds.Driver("db"); err != nil || !strings.Contains(d.Mechanism(), "shop_a and shop_b") {
		t.Errorf("db driver: %v, %v", d, err)
	}
	if _, err := creds.Driver("unused"); err == nil {
		t.Error("a driver was built for a server no secret names")
	}
	cfg.Servers["db"].Type = config.ServerHTTP
	if _, err := NewSwarmCredentials(cfg, values, nil, "shop", "rekey:dev"); err == nil || !strings.Contains(err.Error(), "server db: http servers are not supported on Swarm yet") {
		t.Errorf("http server on Swarm: %v", err)
	}
}
