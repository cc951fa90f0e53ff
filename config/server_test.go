package config

import (
	"strings"
	"testing"
)

const withServers = `version: 1
compose:
  project_dir: /srv/shop
values: secrets.sops.yaml
servers:
  cache:
    type: redis
    service: redis
  db:
    type: postgres
    service: db
    user: shop
    drain_timeout: 30s
secrets:
  redis-password:
    type: token
    env: {value: REDIS_PASSWORD}
    server: cache
  db-password:
    type: token
    env: {value: DB_PASSWORD}
    login_env: DB_USER
    server: db
`

func TestServers(t *testing.T) {
	c, err := Parse("rekey.yaml", []byte(withServers))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Servers["cache"].RotatedUser(); got != "default" {
		t.Errorf("redis user = %q, want default", got)
	}
	if got := strings.Join(c.Servers["db"].LoginRoles(), ","); got != "shop_a,shop_b" {
		t.Errorf("postgres login roles = %s", got)
	}
	if got := c.Servers["db"].Mechanism(); !strings.Contains(got, "shop_a and shop_b take turns") {
		t.Errorf("mechanism = %q", got)
	}
}

func TestServerErrors(t *testing.T) {
	tests := []struct{ name, edit, repl, want string }{
		{"unknown server", "    server: cache\n", "    server: cahce\n", `rekey.yaml:18: secret redis-password: no server "cahce" under servers (servers: [cache db])`},
		{"unknown type", "    type: redis\n", "    type: memcached\n", `rekey.yaml:7: server cache: unknown type "memcached" (want redis, postgres, mariadb, smtp, http or exec)`},
		{"exec without verify", "    type: redis\n", "    type: exec\n    commands: {revoke: [x]}\n", `server cache: an exec server needs commands.verify`},
		{"exec without revoke or probe", "    type: redis\n", "    type: exec\n    commands: {verify: [x]}\n", `without commands.revoke the old value is revoked by hand`},
		{"commands on redis", "    service: redis\n", "    service: redis\n    commands: {verify: [x]}\n", `server cache: commands are for servers of type exec`},
		{"smtp without addr", "    type: redis\n    service: redis\n", "    type: smtp\n    user: app\n", `server cache: an smtp relay needs addr`},
		{"smtp with a service", "    type: redis\n", "    type: smtp\n    addr: 127.0.0.1:587\n    user: app\n", `server cache: an smtp relay takes addr, user, tls, ca_file and server_name only`},
		{"postgres single without swap", "    user: shop\n", "    user: shop\n    single: true\n", `a postgres single login role has no overlap: set strategy: swap`},
		{"swap on alternating postgres", "    login_env: DB_USER\n", "    login_env: DB_USER\n    strategy: swap\n", `server db cannot swap`},
		{"unknown strategy", "    login_env: DB_USER\n", "    login_env: DB_USER\n    strategy: yolo\n", `unknown strategy "yolo"`},
		{"http in clear text", "    type: redis\n    service: redis\n", "    type: http\n    url: http://api.example.com/me\n    header: \"Authorization: Bearer {value}\"\n", `would send the key in clear text`},
		{"http header without value", "    type: redis\n    service: redis\n", "    type: http\n    url: https://api.example.com/me\n    header: \"Authorization: Bearer\"\n", `header must be "Name: …{value}…"`},
		{"smtp addr without port", "    type: redis\n    service: redis\n", "    type: smtp\n    addr: smtp.example.com\n    user: app\n", `server cache: addr "smtp.example.com" is not host:port`},
		{"smtp clear text off loopback", "    type: redis\n    service: redis\n", "    type: smtp\n    addr: smtp.example.com:25\n    user: app\n    tls: none\n", `tls: none sends the key in clear text`},
		{"exec host command relative", "    type: redis\n    service: redis\n", "    type: exec\n    commands: {verify: [bin/check], revoke: [/bin/true]}\n", `host commands need an absolute path`},
		{"redis admin is the rotated user", "    service: redis\n", "    service: redis\n    admin: {user: default, password: redis-admin}\n", `the admin is the rotated user default itself`},
		{"smtp bad tls", "    type: redis\n    service: redis\n", "    type: smtp\n    addr: 127.0.0.1:587\n    user: app\n    tls: yes-please\n", `server cache: unknown tls "yes-please"`},
		{"no service", "    service: redis\n", "", `rekey.yaml:6: server cache: service is required`},
		{"app key on a server", "    type: token\n    env: {value: REDIS_PASSWORD}", "    type: app-key\n    env: {current: A, previous: B}", `rekey.yaml:18: secret redis-password: a server's password is a token`},
		{"postgres without login_env", "    login_env: DB_USER\n", "", `rekey.yaml:22: secret db-password: postgres logins take turns: set login_env`},
		{"login_env on redis", "    server: cache\n", "    server: cache\n    login_env: X\n", `secret redis-password: login_env is for servers whose logins take turns`},
		{"postgres without owner", "    user: shop\n", "", `rekey.yaml:9: server db: user is required`},
		{"redis admin without password", "    service: redis\n", "    service: redis\n    admin: {user: rekey}\n", `rekey.yaml:9: server cache: admin needs user and password`},
		{"redis admin is a managed secret", "    service: redis\n", "    service: redis\n    admin: {user: rekey, password: db-password}\n", `admin.password db-password is a managed secret`},
		{"two secrets on one server", "    server: db\n", "    server: cache\n", `secret redis-password: server cache already rotates db-password; one secret per server`},
		{"postgres settings on redis", "    service: redis\n", "    service: redis\n    terminate: true\n", `server cache: logins, database, drain_timeout, terminate, chain, host and single are not redis settings`},
		{"mariadb chain with logins", "    type: postgres\n", "    type: mariadb\n    chain: true\n    logins: [a, b]\n", `server db: chain keeps one user`},
		{"mariadb chain with login_env", "    type: postgres\n", "    type: mariadb\n    chain: true\n", `secret db-password: login_env is for servers whose logins take turns`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(withServers, tc.edit, tc.repl, 1)
			if src == withServers {
				t.Fatalf("edit %q did not apply", tc.edit)
			}
			_, err := Parse("rekey.yaml", []byte(src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v\ndoes not contain %q", err, tc.want)
			}
		})
	}
}
