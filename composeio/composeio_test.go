package composeio

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

func testdata(t *testing.T, name string) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func loadShop(t *testing.T, opts ...Option) *Project {
	t.Helper()
	p, err := Load(context.Background(), testdata(t, "shop"), opts...)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return p
}

// writeProject creates a project directory from name -> content.
func writeProject(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func equal[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got  %#v\n want %#v", what, got, want)
	}
}

func TestLoadShop(t *testing.T) {
	dir := testdata(t, "shop")
	p := loadShop(t)
	equal(t, "Name", p.Name(), "shop")
	equal(t, "Dir", p.Dir(), dir)
	equal(t, "Files", p.Files(), []string{filepath.Join(dir, "compose.yaml")})
	equal(t, "DotEnvPath", p.DotEnvPath(), filepath.Join(dir, ".env"))
	equal(t, "Services", p.Services(), []string{"api", "db", "web", "worker"})
	if !p.HasService("api") || p.HasService("nope") {
		t.Errorf("HasService: wrong answer")
	}
	if p.Types() == nil || p.Types().Name != "shop" {
		t.Errorf("Types: %v", p.Types())
	}
}

func TestLoadUsesDotEnvValues(t *testing.T) {
	p := loadShop(t)
	env := p.Types().Services["api"].Environment
	if got := *env["DATABASE_URL"]; got != "postgres://app:s3cr3t-from-dotenv@db/app" {
		t.Errorf("DATABASE_URL = %q, want the value from .env", got)
	}
	if got := *env["LOG_LEVEL"]; got != "debug" {
		t.Errorf("LOG_LEVEL = %q, want .env value over the default", got)
	}
	if got := *env["FEATURE_FLAG"]; got != "off" {
		t.Errorf("FEATURE_FLAG = %q, want the ${VAR:-default} default", got)
	}
}

func TestWithEnvOverridesDotEnv(t *testing.T) {
	p := loadShop(t, WithEnv(map[string]string{"LOG_LEVEL": "trace"}))
	if got := *p.Types().Services["api"].Environment["LOG_LEVEL"]; got != "trace" {
		t.Errorf("LOG_LEVEL = %q, want the WithEnv override", got)
	}
}

func TestWithEnvVisibleInsideDotEnv(t *testing.T) {
	dir := writeProject(t, map[string]string{
		".env":         "DB_PASSWORD=one\nDB_URL=postgres://app:${DB_PASSWORD}@db\n",
		"compose.yaml": "services:\n  app:\n    image: busybox\n    environment:\n      URL: ${DB_URL}\n",
	})
	ctx := context.Background()
	p, err := Load(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	// DB_PASSWORD reaches app only through DB_URL in .env.
	uses, err := p.ConsumersOfVar(ctx, "DB_PASSWORD")
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "consumers", uses, []VarUse{{Service: "app", Via: []string{"interpolation:environment"}}})
}

func TestLoadWithProjectName(t *testing.T) {
	p := loadShop(t, WithProjectName("other"))
	equal(t, "Name", p.Name(), "other")
	if _, err := Load(context.Background(), testdata(t, "shop"), WithProjectName("Bad Name")); err == nil {
		t.Errorf("invalid project name accepted")
	}
}

func TestLoadDefaultOverrideFile(t *testing.T) {
	dir := testdata(t, "override")
	p, err := Load(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "Files", p.Files(), []string{filepath.Join(dir, "docker-compose.yml"), filepath.Join(dir, "docker-compose.override.yml")})
	equal(t, "DotEnvPath", p.DotEnvPath(), "")
	equal(t, "Name", p.Name(), "override")
	if got := *p.Types().Services["app"].Environment["MODE"]; got != "override" {
		t.Errorf("MODE = %q", got)
	}
}

func TestLoadWithFiles(t *testing.T) {
	dir := testdata(t, "override")
	p, err := Load(context.Background(), dir, WithFiles("docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "Files", p.Files(), []string{filepath.Join(dir, "docker-compose.yml")})
	if got := *p.Types().Services["app"].Environment["MODE"]; got != "base" {
		t.Errorf("MODE = %q", got)
	}
	_, err = Load(context.Background(), dir, WithFiles("nope.yml"))
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "nope.yml")+" does not exist") {
		t.Errorf("err = %v", err)
	}
}

func TestLoadComposeFileFromDotEnv(t *testing.T) {
	dir := writeProject(t, map[string]string{
		".env":         "COMPOSE_FILE=base.yaml:prod.yaml\n",
		"base.yaml":    "services:\n  app:\n    image: busybox\n",
		"prod.yaml":    "services:\n  app:\n    image: busybox:prod\n",
		"compose.yaml": "services:\n  other:\n    image: busybox\n",
	})
	p, err := Load(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "Files", p.Files(), []string{filepath.Join(dir, "base.yaml"), filepath.Join(dir, "prod.yaml")})
	equal(t, "image", p.Types().Services["app"].Image, "busybox:prod")
}

func TestLoadMissingComposeFile(t *testing.T) {
	dir := testdata(t, "nocompose")
	_, err := Load(context.Background(), dir)
	want := "no compose file found in " + dir + " (looked for compose.yaml, compose.yml, docker-compose.yml, docker-compose.yaml)"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
}

func TestLoadMissingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gone")
	_, err := Load(context.Background(), dir)
	if err == nil || err.Error() != "project directory "+dir+" does not exist" {
		t.Errorf("err = %v", err)
	}
	file := filepath.Join(testdata(t, "shop"), "compose.yaml")
	_, err = Load(context.Background(), file)
	if err == nil || !strings.Contains(err.Error(), "is not a directory") {
		t.Errorf("err = %v", err)
	}
}

func TestConsumersOfVar(t *testing.T) {
	p := loadShop(t)
	dir := p.Dir()
	tests := []struct {
		name string
		want []VarUse
	}{
		{"DB_PASSWORD", []VarUse{
			{Service: "api", Via: []string{"interpolation:environment"}},
			{Service: "db", Via: []string{"interpolation:environment"}},
			// through `${DB_PASSWORD}` inside worker.env
			{Service: "worker", Via: []string{"interpolation:environment"}},
		}},
		{"API_TOKEN", []VarUse{
			{Service: "api", Via: []string{"interpolation:command"}},
			// a bare `API_TOKEN` line in worker.env passes the project value through
			{Service: "worker", Via: []string{"interpolation:environment"}},
		}},
		{"HEALTH_PORT", []VarUse{{Service: "api", Via: []string{"interpolation:healthcheck"}}}},
		{"TRAEFIK_HOST", []VarUse{{Service: "web", Via: []string{"interpolation:labels"}}}},
		// unset, `${WEB_MODE-prod}`
		{"WEB_MODE", []VarUse{{Service: "web", Via: []string{"interpolation:entrypoint"}}}},
		// set in .env, `${LOG_LEVEL:-warn}`
		{"LOG_LEVEL", []VarUse{{Service: "api", Via: []string{"interpolation:environment"}}}},
		// unset, `${FEATURE_FLAG:-off}`
		{"FEATURE_FLAG", []VarUse{{Service: "api", Via: []string{"interpolation:environment"}}}},
		{"SMTP_PASSWORD", []VarUse{{Service: "api", Via: []string{"env_file:" + filepath.Join(dir, "api.env")}}}},
		{"SHARED_KEY", []VarUse{
			{Service: "api", Via: []string{"env_file:" + filepath.Join(dir, "api.env")}},
			{Service: "worker", Via: []string{"env_file:" + filepath.Join(dir, "worker.env")}},
		}},
		{"STRIPE_KEY", []VarUse{{Service: "web", Via: []string{"secret:stripe_key"}}}},
		{"UNUSED_VAR", []VarUse{}},
		{"NEVER_HEARD_OF", []VarUse{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.ConsumersOfVar(context.Background(), tt.name)
			if err != nil {
				t.Fatal(err)
			}
			equal(t, "consumers", got, tt.want)
			ref, err := p.Referenced(context.Background(), tt.name)
			if err != nil {
				t.Fatal(err)
			}
			equal(t, "Referenced", ref, len(tt.want) > 0)
		})
	}
}

func TestConsumersOfVarIsDeterministic(t *testing.T) {
	p := loadShop(t)
	first, err := p.ConsumersOfVar(context.Background(), "DB_PASSWORD")
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		again, err := p.ConsumersOfVar(context.Background(), "DB_PASSWORD")
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "consumers", again, first)
	}
}

func TestConsumersOfVarTypedFields(t *testing.T) {
	dir := writeProject(t, map[string]string{
		".env": "PORT=8080\nRO=true\n",
		"compose.yaml": `services:
  app:
    image: busybox
    ports: ["${PORT}:80"]
    read_only: ${RO}
`,
	})
	ctx := context.Background()
	p, err := Load(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"PORT", "RO"} {
		got, err := p.ConsumersOfVar(ctx, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		equal(t, name, got, []VarUse{{Service: "app", Via: []string{"interpolation:other"}}})
	}
}

func TestConsumersOfVarInvalidName(t *testing.T) {
	p := loadShop(t)
	for _, name := range []string{"", "A=B", "A B"} {
		if _, err := p.ConsumersOfVar(context.Background(), name); err == nil {
			t.Errorf("%q accepted", name)
		}
	}
}

func TestVarSources(t *testing.T) {
	p := loadShop(t)
	dir := p.Dir()
	dotenv := VarSource{Path: filepath.Join(dir, ".env"), Kind: "dotenv"}
	equal(t, "DB_PASSWORD", p.VarSources("DB_PASSWORD"), []VarSource{dotenv})
	equal(t, "UNUSED_VAR", p.VarSources("UNUSED_VAR"), []VarSource{dotenv})
	equal(t, "SMTP_PASSWORD", p.VarSources("SMTP_PASSWORD"), []VarSource{{Path: filepath.Join(dir, "api.env"), Kind: "env_file"}})
	equal(t, "SHARED_KEY", p.VarSources("SHARED_KEY"), []VarSource{
		{Path: filepath.Join(dir, "api.env"), Kind: "env_file"},
		{Path: filepath.Join(dir, "worker.env"), Kind: "env_file"},
	})
	// worker.env only passes API_TOKEN through: .env is the only source.
	equal(t, "API_TOKEN", p.VarSources("API_TOKEN"), []VarSource{dotenv})
	equal(t, "WEB_MODE", p.VarSources("WEB_MODE"), []VarSource(nil))
}

func TestConsumersOfFile(t *testing.T) {
	p := loadShop(t)
	dir := p.Dir()
	tests := []struct {
		path string
		want []FileUse
	}{
		{"secrets/db_root.txt", []FileUse{{Service: "db", Target: "/run/secrets/db_root", Kind: "secret"}}},
		{filepath.Join(dir, "secrets", "db_root.txt"), []FileUse{{Service: "db", Target: "/run/secrets/db_root", Kind: "secret"}}},
		{"./certs/tls.crt", []FileUse{{Service: "api", Target: "/etc/tls/tls.crt", Kind: "bind-file"}}},
		{"conf/nginx.conf", []FileUse{
			{Service: "api", Target: "/etc/api/nginx.conf", Kind: "bind-dir"},
			{Service: "web", Target: "/etc/nginx/nginx.conf", Kind: "config"},
		}},
		{"conf/api.ini", []FileUse{{Service: "api", Target: "/etc/api/api.ini", Kind: "bind-dir"}}},
		// a file that does not exist yet in a mounted directory
		{"conf/new.ini", []FileUse{{Service: "api", Target: "/etc/api/new.ini", Kind: "bind-dir"}}},
		{"conf", []FileUse{{Service: "api", Target: "/etc/api", Kind: "bind-dir"}}},
		{"api.env", []FileUse{{Service: "api", Kind: "env_file"}}},
		{"compose.yaml", nil},
		{"confx/nginx.conf", nil},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := p.ConsumersOfFile(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			equal(t, "consumers", got, tt.want)
		})
	}
	if _, err := p.ConsumersOfFile(""); err == nil {
		t.Errorf("empty path accepted")
	}
}

func TestConsumersOfFileThroughSymlink(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"real/key.pem": "key",
		"compose.yaml": `services:
  app:
    image: busybox
    volumes:
      - ./link/key.pem:/key.pem
`,
	})
	if err := os.Symlink(filepath.Join(dir, "real"), filepath.Join(dir, "link")); err != nil {
		t.Skip(err)
	}
	p, err := Load(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.ConsumersOfFile("real/key.pem")
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "consumers", got, []FileUse{{Service: "app", Target: "/key.pem", Kind: "bind-file"}})
}

func TestDependsOrder(t *testing.T) {
	p := loadShop(t)
	got, err := p.DependsOrder()
	if err != nil {
		t.Fatal(err)
	}
	// worker depends on api through network_mode: service:api
	equal(t, "order", got, []string{"db", "api", "web", "worker"})
}

func TestOrder(t *testing.T) {
	p := loadShop(t)
	tests := []struct {
		in, want []string
	}{
		{[]string{"web", "db"}, []string{"db", "web"}},       // through api, not in the list
		{[]string{"worker", "db"}, []string{"db", "worker"}}, // through api (network_mode)
		{[]string{"worker", "web"}, []string{"web", "worker"}},
		{[]string{"api", "api"}, []string{"api"}},
		{nil, []string{}},
	}
	for _, tt := range tests {
		got, err := p.Order(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		equal(t, strings.Join(tt.in, ","), got, tt.want)
	}
	if _, err := p.Order([]string{"db", "ghost"}); err == nil || !strings.Contains(err.Error(), `unknown service "ghost"`) {
		t.Errorf("err = %v", err)
	}
}

func TestOrderTieBreakIgnoresUnrelatedDependencies(t *testing.T) {
	dir := writeProject(t, map[string]string{"compose.yaml": `services:
  a:
    image: busybox
    depends_on: [y]
  b:
    image: busybox
  y:
    image: busybox
  vol:
    image: busybox
    volumes_from: [b]
  link:
    image: busybox
    links: ["vol:v"]
`})
	p, err := Load(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Order([]string{"b", "a"})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "order", got, []string{"a", "b"})
	got, err = p.DependsOrder()
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "order", got, []string{"b", "vol", "link", "y", "a"})
}

func TestLoadCycle(t *testing.T) {
	dir := testdata(t, "cycle")
	_, err := Load(context.Background(), dir)
	want := "failed to load compose file " + filepath.Join(dir, "compose.yaml") + ": cyclic depends_on: a -> b -> c -> a"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
}

// compose-go rejects cycles at load time; Order finds them itself too (e.g. in a project from Types()).
func TestOrderCycle(t *testing.T) {
	svc := func(name string, deps ...string) types.ServiceConfig {
		s := types.ServiceConfig{Name: name}
		s.Image = "busybox"
		s.DependsOn = types.DependsOnConfig{}
		for _, d := range deps {
			s.DependsOn[d] = types.ServiceDependency{Condition: types.ServiceConditionStarted, Required: true}
		}
		return s
	}
	p := &Project{p: &types.Project{Name: "t", Services: types.Services{
		"a": svc("a", "b"),
		"b": svc("b", "a"),
		"c": svc("c"),
		"d": svc("d", "e"),
		"e": svc("e", "b"),
	}}}
	_, err := p.DependsOrder()
	if err == nil || err.Error() != "cyclic depends_on: a -> b -> a" {
		t.Errorf("err = %v", err)
	}
	_, err = p.Order([]string{"d"})
	if err == nil || err.Error() != "cyclic depends_on: b -> a -> b" {
		t.Errorf("err = %v", err)
	}
	got, err := p.Order([]string{"c"})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "order", got, []string{"c"})
}

// The process environment must not change anything: only .env and explicit options count.
func TestProcessEnvironmentIsIgnored(t *testing.T) {
	ctx := context.Background()
	before := loadShop(t)
	beforeUses, err := before.ConsumersOfVar(ctx, "DB_PASSWORD")
	if err != nil {
		t.Fatal(err)
	}
	beforeFlag, err := before.ConsumersOfVar(ctx, "FEATURE_FLAG")
	if err != nil {
		t.Fatal(err)
	}

	t.Setenv("DB_PASSWORD", "from-the-process-env")
	t.Setenv("FEATURE_FLAG", "on")
	t.Setenv("WEB_MODE", "debug")
	t.Setenv("COMPOSE_FILE", "nope.yaml")
	t.Setenv("COMPOSE_PROJECT_NAME", "fromos")
	t.Setenv("COMPOSE_PROFILES", "x")
	t.Setenv("COMPOSE_DISABLE_ENV_FILE", "1")

	after := loadShop(t)
	equal(t, "Name", after.Name(), "shop")
	equal(t, "Files", after.Files(), before.Files())
	api := after.Types().Services["api"]
	equal(t, "DATABASE_URL", *api.Environment["DATABASE_URL"], "postgres://app:s3cr3t-from-dotenv@db/app")
	equal(t, "FEATURE_FLAG", *api.Environment["FEATURE_FLAG"], "off")
	equal(t, "entrypoint", []string(after.Types().Services["web"].Entrypoint), []string{"/docker-entrypoint.sh", "--mode=prod"})
	equal(t, "project", after.Types(), before.Types())

	afterUses, err := after.ConsumersOfVar(ctx, "DB_PASSWORD")
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "DB_PASSWORD consumers", afterUses, beforeUses)
	afterFlag, err := after.ConsumersOfVar(ctx, "FEATURE_FLAG")
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "FEATURE_FLAG consumers", afterFlag, beforeFlag)

	dir := writeProject(t, map[string]string{"compose.yaml": "services:\n  app:\n    image: busybox\n"})
	p, err := Load(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "name without .env", p.Name(), filepath.Base(dir))
}

const secretValue = "hunter2-Zq9xV7-top-secret"

// No error may contain a variable's value, whatever compose-go echoes.
func TestErrorsNeverContainValues(t *testing.T) {
	env := ".env"
	base := "SECRET=" + secretValue + "\n"
	tests := map[string]map[string]string{
		"required variable with interpolated reason": {
			env:            base,
			"compose.yaml": "services:\n  app:\n    image: busybox\n    command: echo ${MISSING:?cannot use ${SECRET}}\n",
		},
		"value that fails a boolean cast": {
			env:            base,
			"compose.yaml": "services:\n  app:\n    image: busybox\n    read_only: ${SECRET}\n",
		},
		"value that fails a port parse": {
			env:            base,
			"compose.yaml": "services:\n  app:\n    image: busybox\n    ports: [\"${SECRET}:80\"]\n",
		},
		"value that fails a size parse (echoed in part)": {
			env:            base,
			"compose.yaml": "services:\n  app:\n    image: busybox\n    mem_limit: ${SECRET}\n",
		},
		"value used as a service name": {
			env:            base,
			"compose.yaml": "services:\n  app:\n    image: busybox\n    depends_on: [\"${SECRET}\"]\n",
		},
		"broken reference next to the secret": {
			env:            base,
			"compose.yaml": "services:\n  app:\n    image: busybox\n    environment:\n      A: ${SECRET}\n      B: ${SECRET\n",
		},
		"unterminated quote in .env": {
			env:            "SECRET=\"" + secretValue + "\n",
			"compose.yaml": "services:\n  app:\n    image: busybox\n",
		},
		"bad variable name in .env": {
			env:            "SEC!RET=" + secretValue + "\n",
			"compose.yaml": "services:\n  app:\n    image: busybox\n",
		},
		"broken env_file": {
			env:            base,
			"app.env":      "TOKEN='" + secretValue + "\n",
			"compose.yaml": "services:\n  app:\n    image: busybox\n    env_file: app.env\n",
		},
		"bad line in env_file": {
			env:            base,
			"app.env":      "TO KEN=" + secretValue + "\n",
			"compose.yaml": "services:\n  app:\n    image: busybox\n    env_file: app.env\n",
		},
	}
	for name, files := range tests {
		t.Run(name, func(t *testing.T) {
			dir := writeProject(t, files)
			_, err := Load(context.Background(), dir)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			msg := err.Error()
			t.Log(msg)
			for _, frag := range []string{secretValue, "hunter2", "Zq9xV7", "top-secret"} {
				if strings.Contains(msg, frag) {
					t.Errorf("error contains %q: %s", frag, msg)
				}
			}
			if !strings.Contains(msg, dir) {
				t.Errorf("error does not name a file of the project: %s", msg)
			}
			if msg != strings.ToLower(msg[:1])+msg[1:] {
				t.Errorf("error not lowercase: %s", msg)
			}
		})
	}
}

func TestInterpolationErrorNamesVariable(t *testing.T) {
	dir := writeProject(t, map[string]string{
		".env":         "SECRET=" + secretValue + "\n",
		"compose.yaml": "services:\n  app:\n    image: busybox\n    command: echo ${API_KEY:?set API_KEY to ${SECRET}}\n",
	})
	_, err := Load(context.Background(), dir)
	want := "failed to load compose file " + filepath.Join(dir, "compose.yaml") +
		": variable API_KEY: required variable is missing a value (in services.app.command)"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
}

func TestConsumersOfVarProbeErrorHasNoValue(t *testing.T) {
	// pull_policy only accepts a few words: no canary passes validation.
	dir := writeProject(t, map[string]string{
		".env":         "SECRET=" + secretValue + "\nPOLICY=always\n",
		"compose.yaml": "services:\n  app:\n    image: busybox\n    pull_policy: ${POLICY}\n    environment:\n      S: ${SECRET}\n",
	})
	ctx := context.Background()
	p, err := Load(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.ConsumersOfVar(ctx, "POLICY")
	if err == nil || !strings.HasPrefix(err.Error(), "failed to probe variable POLICY: failed to load compose file "+dir) {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("err = %v", err)
	}
}

func TestConsumersOfVarDuration(t *testing.T) {
	dir := writeProject(t, map[string]string{
		".env":         "INTERVAL=30s\n",
		"compose.yaml": "services:\n  app:\n    image: busybox\n    healthcheck:\n      interval: ${INTERVAL}\n",
	})
	ctx := context.Background()
	p, err := Load(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.ConsumersOfVar(ctx, "INTERVAL")
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "consumers", got, []VarUse{{Service: "app", Via: []string{"interpolation:healthcheck"}}})
}

func TestConsumersOfVarThroughResources(t *testing.T) {
	dir := writeProject(t, map[string]string{
		".env": "API_TOKEN=tok\nSMB_PASSWORD=pw\nPASS_THROUGH=x\n",
		"compose.yaml": `services:
  app:
    image: busybox
    configs: [app_conf]
    volumes:
      - share:/mnt/share
  other:
    image: busybox
    environment:
      - PASS_THROUGH
configs:
  app_conf:
    content: |
      token=${API_TOKEN}
volumes:
  share:
    driver_opts:
      type: cifs
      o: username=app,password=${SMB_PASSWORD}
      device: //nas/share
`,
	})
	ctx := context.Background()
	p, err := Load(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]VarUse{
		"API_TOKEN":    {{Service: "app", Via: []string{"config:app_conf"}}},
		"SMB_PASSWORD": {{Service: "app", Via: []string{"volume:share"}}},
		"PASS_THROUGH": {{Service: "other", Via: []string{"interpolation:environment"}}},
	} {
		got, err := p.ConsumersOfVar(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		equal(t, name, got, want)
	}
}

func TestProfiles(t *testing.T) {
	files := map[string]string{
		"compose.yaml": `services:
  app:
    image: busybox
  debug:
    image: busybox
    profiles: [debug]
`,
	}
	t.Setenv("COMPOSE_PROFILES", "debug") // the process environment is ignored
	ctx := context.Background()
	p, err := Load(ctx, writeProject(t, files))
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "default", p.Services(), []string{"app"})

	p, err = Load(ctx, writeProject(t, files), WithProfiles("debug"))
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "WithProfiles", p.Services(), []string{"app", "debug"})

	files[".env"] = "COMPOSE_PROFILES=debug\n"
	p, err = Load(ctx, writeProject(t, files))
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "COMPOSE_PROFILES in .env", p.Services(), []string{"app", "debug"})
}
