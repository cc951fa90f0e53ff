package live

import (
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/config"
	"github.com/rekeyhq/rekey/provider/postgres"
	"github.com/rekeyhq/rekey/provider/redis"
	"github.com/rekeyhq/rekey/reconcile"
)

// TestCredentialsFindsEachServersDriver: the executor gets each named server's driver as its
// reconcile.Credential; servers no secret names get none, and unknown names are an error naming them.
func TestCredentialsFindsEachServersDriver(t *testing.T) {
	src := `version: 1
compose: {project_dir: /srv/shop, project_name: shop}
values: secrets.sops.yaml
servers:
  cache: {type: redis, service: redis}
  pg: {type: postgres, service: db, user: shop, single: true}
  spare: {type: redis, service: redis}
secrets:
  redis-password:
    type: token
    env: {value: REDIS_PASSWORD}
    server: cache
  db-password:
    type: token
    env: {value: DB_PASSWORD}
    server: pg
    strategy: swap
`
	cfg, err := config.Parse("rekey.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	creds, err := NewCredentials(cfg, func(string) (string, bool) { return "", false }, nil, "shop", nil)
	if err != nil {
		t.Fatal(err)
	}
	var rc reconcile.Credentials = creds
	c, err := rc.Server("cache")
	if _, ok := c.(*redis.Redis); err != nil || !ok {
		t.Errorf("cache: %T, %v; want the redis driver", c, err)
	}
	c, err = rc.Server("pg")
	if _, ok := c.(reconcile.Swapper); err != nil || !ok {
		t.Errorf("pg: %T, %v; want a driver that swaps in one step", c, err)
	}
	if _, ok := c.(*postgres.Single); !ok {
		t.Errorf("pg: %T, want the single-role postgres driver", c)
	}
	for _, name := range []string{"spare", "nope"} {
		if _, err := rc.Server(name); err == nil || !strings.Contains(err.Error(), `no server "`+name+`"`) {
			t.Errorf("%s: %v, want no such server", name, err)
		}
	}
}
