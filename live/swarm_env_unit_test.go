package live

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/composeio"
	"github.com/rekeyhq/rekey/internal/testenv"
	"github.com/rekeyhq/rekey/reconcile"
)

// TestSwarmEnvOf: a managed variable's consumers are the services whose env_files assign it, each with
// the file it gets it from; a location no service names (the project .env) has no consumer.
func TestSwarmEnvOf(t *testing.T) {
	dir := t.TempDir()
	noErr(t, os.WriteFile(filepath.Join(dir, "app.env"), []byte("LOG_LEVEL=info\nSESSION_TOKEN="+strings.Repeat("a", 40)+"\n"), 0o600))
	noErr(t, os.WriteFile(filepath.Join(dir, "stack.yaml"), []byte(testenv.SwarmEnvStack()), 0o600))
	p, err := composeio.Load(context.Background(), dir, composeio.WithFiles("stack.yaml"), composeio.WithProjectName("shop"))
	noErr(t, err)
	envFile := filepath.Join(dir, "app.env")
	got := SwarmEnvOf(p, []reconcile.Location{{Path: envFile, Key: "SESSION_TOKEN"}, {Path: filepath.Join(dir, ".env"), Key: "OTHER"}, {Path: envFile}})
	want := []SwarmEnv{{Var: "OTHER", Files: map[string]string{}}, {Var: "SESSION_TOKEN", Files: map[string]string{"api": envFile, "worker": envFile}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	s := &SwarmStack{Stack: "shop", Env: got, Files: Files{Root: dir}}
	if _, ok := s.envAt(reconcile.Location{Path: filepath.Join(dir, ".env"), Key: "OTHER"}); ok {
		t.Error("a variable of .env is taken for one docker stack deploy reads")
	}
	env, err := s.envFor(context.Background(), "worker")
	if err != nil || env["SESSION_TOKEN"] != strings.Repeat("a", 40) || len(env) != 1 {
		t.Errorf("envFor(worker): %d variables, %v", len(env), err)
	}
}

// TestSwarmEnvWriteRefusals: a value the Docker CLI would read otherwise than compose (quotes, spaces,
// $) is refused before the file is touched, with an error that does not quote it; a location no service
// reads is refused.
func TestSwarmEnvWriteRefusals(t *testing.T) {
	dir := t.TempDir()
	envFile := filepath.Join(dir, "app.env")
	before := "SESSION_TOKEN=" + strings.Repeat("a", 40) + "\n"
	noErr(t, os.WriteFile(envFile, []byte(before), 0o600))
	st := &SwarmStack{Stack: "shop", Files: Files{Root: dir},
		Env: []SwarmEnv{{Var: "SESSION_TOKEN", Files: map[string]string{"api": envFile}}}}
	src := SwarmSources{Files: st.Files, Stack: st, FP: testFP}
	l := reconcile.Location{Path: envFile, Key: "SESSION_TOKEN"}
	for _, bad := range []string{"has space-in-it", "dollar$sign", `"quoted"`, ""} {
		err := src.WriteValue(context.Background(), l, bad)
		if err == nil || (bad != "" && strings.Contains(err.Error(), bad)) {
			t.Errorf("value %q: %v", bad, err)
		}
	}
	if data, _ := os.ReadFile(envFile); string(data) != before {
		t.Errorf("the env file changed: %q", data)
	}
	if err := src.WriteValue(context.Background(), reconcile.Location{Path: filepath.Join(dir, ".env"), Key: "SESSION_TOKEN"}, "x"); err == nil {
		t.Error("a location no service reads was written")
	}
	noErr(t, src.WriteValue(context.Background(), l, strings.Repeat("b", 40)))
	if v, err := st.deployedValue(context.Background(), envFile, "SESSION_TOKEN"); err != nil || v != strings.Repeat("b", 40) {
		t.Errorf("docker stack deploy would read another value (%v)", err)
	}
}

// TestSwarmEnvConsumerRefusal: a service reading the variable through ${VAR} interpolation is refused
// (docker stack deploy takes it from its own environment), naming the service.
func TestSwarmEnvConsumerRefusal(t *testing.T) {
	sec := reconcile.Secret{Name: "token", Consumers: []reconcile.Consumer{
		{Name: "api", Via: []string{"env_file:/srv/app.env"}},
		{Name: "web", Via: []string{"interpolation:environment"}},
	}}
	if err := preflightEnvConsumers(sec); err == nil || !strings.Contains(err.Error(), "service web") {
		t.Errorf("got %v", err)
	}
	sec.Consumers = sec.Consumers[:1]
	if err := preflightEnvConsumers(sec); err != nil {
		t.Errorf("an env_file consumer refused: %v", err)
	}
}
