package config

import (
	"strings"
	"testing"
)

const swarmGood = `version: 1
compose:
  project_dir: /srv/shop
  files: [stack.yaml]
swarm:
  stack: shop
values: secrets.sops.yaml
secrets:
  app-key:
    type: token
    file: secrets/app_key
`

func TestSwarmStack(t *testing.T) {
	c, err := Parse("rekey.yaml", []byte(swarmGood))
	if err != nil {
		t.Fatal(err)
	}
	if !c.IsSwarm() || c.Swarm.Stack != "shop" {
		t.Errorf("swarm = %+v", c.Swarm)
	}
	// An environment-variable secret: its value lives in an env_file the stack's services name.
	if env, err := Parse("rekey.yaml", []byte(strings.Replace(swarmGood, "file: secrets/app_key", "env: {value: APP_KEY}", 1))); err != nil || env.Secrets["app-key"].Env == nil {
		t.Errorf("an env secret on Swarm: %v", err)
	}
	plain, err := Parse("rekey.yaml", []byte(strings.Replace(swarmGood, "swarm:\n  stack: shop\n", "", 1)))
	if err != nil || plain.IsSwarm() {
		t.Errorf("without swarm: %v, IsSwarm %v", err, plain != nil && plain.IsSwarm())
	}
}

// TestSwarmRefusals: what the Swarm runtime does not do yet is refused at parse time, one message each,
// naming the file and line.
func TestSwarmRefusals(t *testing.T) {
	cases := map[string]struct{ from, to, want string }{
		"bad stack": {"stack: shop", "stack: Shop Stack", "rekey.yaml:6: swarm.stack must be"},
		"no stack":  {"stack: shop", "{}", "rekey.yaml:5: swarm.stack must be"},
		"server": {"file: secrets/app_key", "file: secrets/app_key\n    server: cache\nservers:\n  cache: {type: redis, service: redis}",
			"secret app-key: server cache is reached on its node by a one-off job: set swarm.relay_image"},
		"swap":      {"file: secrets/app_key", "file: secrets/app_key\n    strategy: swap", "swap strategy is not supported on Swarm"},
		"consumers": {"file: secrets/app_key", "file: secrets/app_key\n    consumers: [{service: api}]", "declared consumers are not supported on Swarm"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse("rekey.yaml", []byte(strings.Replace(swarmGood, tc.from, tc.to, 1)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}
