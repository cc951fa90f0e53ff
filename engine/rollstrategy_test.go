package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/rekeyhq/rekey/composeio"
	"github.com/rekeyhq/rekey/config"
	"github.com/rekeyhq/rekey/reconcile"
)

const strategyCompose = `services:
  web:
    image: shop/web
    environment: {KEY: "${KEY}"}
  api:
    image: shop/api
    environment: {KEY: "${KEY}"}
    ports: ["127.0.0.1:8080:8080"]
  named:
    image: shop/named
    container_name: shop-named
    environment: {KEY: "${KEY}"}
  db:
    image: postgres:16
    environment: {POSTGRES_KEY: "${KEY}"}
    volumes: [data:/var/lib/postgresql/data]
  cache:
    image: redis:7
    command: ["redis-server", "--requirepass", "${KEY}"]
  hostnet:
    image: shop/agent
    network_mode: host
    environment: {KEY: "${KEY}"}
volumes:
  data:
`

func strategyBuild(t *testing.T, extra string) (map[string]reconcile.Consumer, error) {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{"compose.yaml": strategyCompose, ".env": "KEY=old\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	yaml := "version: 1\ncompose: {project_dir: " + dir + ", project_name: shop}\nvalues: v.yaml\n" +
		"secrets:\n  key:\n    type: token\n    env: {value: KEY}\n" + extra
	cfg, err := config.Parse("rekey.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	p, err := composeio.Load(context.Background(), dir, composeio.WithProjectName("shop"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Build(context.Background(), Input{Config: cfg, Project: p, Values: map[string]string{"key": "new"},
		FP: func(v string) string { return "fp" }})
	if err != nil {
		return nil, err
	}
	out := map[string]reconcile.Consumer{}
	for _, c := range d.Secrets[0].Consumers {
		out[c.Name] = c
	}
	return out, nil
}

// TestStrategiesAuto: start-first unless two containers cannot coexist, each fallback with its reason.
func TestStrategiesAuto(t *testing.T) {
	cs, err := strategyBuild(t, "")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"web":     "start-first: no published port, container_name or exclusive volume",
		"api":     "stop-first: publishes host port 8080: a second container could not bind it",
		"named":   "stop-first: container_name shop-named is set: two containers cannot share it",
		"db":      "stop-first: a postgres image with volume data mounted read-write: two servers must not share its data",
		"cache":   "stop-first: a redis image: a second server would not share the first one's data",
		"hostnet": "stop-first: network_mode: host: a second container would bind the same ports",
	}
	for name, w := range want {
		c := cs[name]
		if got := string(c.Strategy) + ": " + c.Why; got != w {
			t.Errorf("%s: got %q, want %q", name, got, w)
		}
	}
}

// TestStrategiesDeclared: services.<name>.strategy overrides the choice; start-first where it cannot
// work, or an unknown service, is one error with its line.
func TestStrategiesDeclared(t *testing.T) {
	cs, err := strategyBuild(t, "services:\n  web: {strategy: stop-first}\n  cache: {strategy: start-first}\n")
	if err != nil {
		t.Fatal(err)
	}
	if c := cs["web"]; c.Strategy != reconcile.StopFirst || c.Why != "declared in rekey.yaml" {
		t.Errorf("web = %s (%s)", c.Strategy, c.Why)
	}
	if c := cs["cache"]; c.Strategy != reconcile.StartFirst {
		t.Errorf("cache = %s (%s)", c.Strategy, c.Why)
	}
	for extra, want := range map[string]string{
		"services:\n  api: {strategy: start-first}\n":   "rekey.yaml:9: service api: strategy start-first is impossible: publishes host port 8080",
		"services:\n  named: {strategy: start-first}\n": "rekey.yaml:9: service named: strategy start-first is impossible: container_name shop-named",
		"services:\n  mailer: {strategy: stop-first}\n": `rekey.yaml:9: services: unknown service "mailer" in compose project shop`,
	} {
		_, err := strategyBuild(t, extra)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", extra, err, want)
		}
	}
}

// TestStrategiesServerService: the service running a credential server rekey rotates rolls stop-first.
func TestStrategiesServerService(t *testing.T) {
	cfg := &config.Config{File: "rekey.yaml", Servers: map[string]*config.Server{"cache": {Type: "redis", Service: "web"}}}
	if got := coexistBlocker(composeTypesService("shop/web"), serverServices(cfg)["web"]); got != "runs the credential server cache, which rekey rotates" {
		t.Errorf("blocker = %q", got)
	}
}

func composeTypesService(image string) types.ServiceConfig {
	var s types.ServiceConfig
	s.Image = image
	return s
}

// TestSwapConsumersStopFirst: a swap stops its consumers while the server switches, so a consumer that
// could start first is recreated stop-first for that secret, with the reason; restarts are left alone.
func TestSwapConsumersStopFirst(t *testing.T) {
	all := map[string]Strategy{"app": {reconcile.StartFirst, "no published port"}, "web": {reconcile.StopFirst, "publishes host port 80"}}
	consumers := func() []reconcile.Consumer {
		return []reconcile.Consumer{{Name: "app", Action: reconcile.Recreate}, {Name: "web", Action: reconcile.Recreate}, {Name: "cron", Action: reconcile.Restart}}
	}
	overlap := reconcile.Secret{Consumers: consumers()}
	setStrategies(&overlap, all)
	if c := overlap.Consumers[0]; c.Strategy != reconcile.StartFirst {
		t.Errorf("without a swap app is %s, want start-first", c.Strategy)
	}
	swap := reconcile.Secret{Swap: true, Consumers: consumers()}
	setStrategies(&swap, all)
	if c := swap.Consumers[0]; c.Strategy != reconcile.StopFirst || !strings.Contains(c.Why, "swap") {
		t.Errorf("with a swap app is %s (%s), want stop-first because of the swap", c.Strategy, c.Why)
	}
	if c := swap.Consumers[1]; c.Strategy != reconcile.StopFirst || c.Why != "publishes host port 80" {
		t.Errorf("web is %s (%s), want its own stop-first reason", c.Strategy, c.Why)
	}
	if c := swap.Consumers[2]; c.Strategy != "" {
		t.Errorf("a restart got a strategy: %s", c.Strategy)
	}
}
