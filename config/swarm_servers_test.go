package config

import (
	"strings"
	"testing"
)

const swarmServerGood = `version: 1
compose:
  project_dir: /srv/shop
  files: [stack.yaml]
swarm:
  stack: shop
  relay_image: rekey:dev
values: secrets.sops.yaml
servers:
  db: {type: postgres, service: db, user: shop}
secrets:
  db-password:
    type: token
    server: db
    derived:
      - file: secrets/db_url
        template: "postgres://{{ .login }}:{{ urlquery .value }}@db:5432/shop"
`

// TestSwarmServerAccepted: a PostgreSQL server with alternating logins, its login in a derived file,
// parses on Swarm when swarm.relay_image says how to reach it.
func TestSwarmServerAccepted(t *testing.T) {
	c, err := Parse("rekey.yaml", []byte(swarmServerGood))
	if err != nil {
		t.Fatal(err)
	}
	if c.Swarm.RelayImage != "rekey:dev" || c.Secrets["db-password"].Server != "db" {
		t.Errorf("swarm = %+v, server %q", c.Swarm, c.Secrets["db-password"].Server)
	}
}

// TestSwarmServerRefusals: one message per case, with its line.
func TestSwarmServerRefusals(t *testing.T) {
	cases := map[string]struct{ from, to, want string }{
		"no relay image": {"  relay_image: rekey:dev\n", "", "rekey.yaml:5: secret db-password: server db is reached on its node by a one-off job: set swarm.relay_image"},
		"http server": {"db: {type: postgres, service: db, user: shop}", "db: {type: http, url: \"https://api.example.com/keys\", header: \"Authorization: Bearer {value}\"}",
			"rekey.yaml:14: secret db-password: http servers are not supported on Swarm yet (postgres, redis and mariadb are)"},
		"consumers": {"    server: db\n", "    server: db\n    consumers: [{service: api}]\n",
			"secret db-password: declared consumers are not supported on Swarm yet"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			in := strings.Replace(swarmServerGood, tc.from, tc.to, 1)
			if in == swarmServerGood {
				t.Fatalf("case %s changes nothing", name)
			}
			_, err := Parse("rekey.yaml", []byte(in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}
