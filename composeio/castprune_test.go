package composeio

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

// trickyCompose uses variables in every place discovery has to see: a YAML merge key from an x- block,
// a default, a required variable, a nested default, a pass-through, an env_file that refers to another
// variable, a build arg, a healthcheck, a typed field as a quoted string (compose-go casts it), ulimits, an
// x- extension field, a service only a profile enables, labels as a list, a secret from the environment
// and a config whose content interpolates.
const trickyCompose = `x-common: &common
  labels:
    team: "${TEAM}"
services:
  web:
    <<: *common
    image: "nginx:${NGINX_TAG:-latest}"
    build:
      context: .
      args:
        BUILD_TOKEN: ${BUILD_TOKEN}
    environment:
      REQ: "${REQUIRED:?required is missing}"
      NESTED: "${OUTER:-${INNER}}"
      PASS:
    env_file: [web.env]
    healthcheck:
      test: ["CMD", "check", "${HC_TOKEN}"]
      retries: 3
    ports: ["${WEB_PORT}:80"]
    read_only: "${RO}"
    tty: "true"
    secrets: [db]
    configs: [app]
    x-meta: "${XMETA}"
    ulimits:
      nofile: {soft: "${NOFILE}", hard: 4096}
    deploy:
      replicas: "2"
  worker:
    image: busybox
    profiles: [batch]
    environment: {ONLY_PROFILED: "${PROFILED}"}
  other:
    image: "busybox:${TAG_OTHER:-1}"
    labels: ["x=${LBL}"]
secrets:
  db: {environment: DB_SECRET}
configs:
  app: {content: "key=${CFG_VAL}"}
`

const trickyEnv = "TEAM=a\nNGINX_TAG=\nBUILD_TOKEN=b\nREQUIRED=r\nOUTER=\nINNER=i\nHC_TOKEN=h\nWEB_PORT=8080\n" +
	"RO=true\nXMETA=m\nNOFILE=1024\nPROFILED=p\nLBL=l\nCFG_VAL=c\nDB_SECRET=d\nPASS=pp\n"

var trickyNames = []string{"TEAM", "NGINX_TAG", "BUILD_TOKEN", "REQUIRED", "OUTER", "INNER", "HC_TOKEN", "WEB_PORT",
	"RO", "XMETA", "NOFILE", "PROFILED", "LBL", "CFG_VAL", "DB_SECRET", "PASS", "WEB_ONLY", "TAG_OTHER", "UNUSED"}

type castCase struct {
	name   string
	dir    string
	opts   []Option
	names  []string
	pruned bool // the probes can use a pruned cast mapping
}

func castCases(t *testing.T) []castCase {
	tricky := writeProject(t, map[string]string{
		".env": trickyEnv, "compose.yaml": trickyCompose, "web.env": "WEB_ONLY=w\nREF=${HC_TOKEN}\n",
	})
	include := writeProject(t, map[string]string{
		".env":         "TOP=t\nSUB=s\nSUB_RO=true\n",
		"compose.yaml": "include: [sub.yaml]\nservices:\n  top:\n    image: busybox\n    environment: {TOP: \"${TOP}\"}\n",
		"sub.yaml":     "services:\n  sub:\n    image: busybox\n    read_only: \"${SUB_RO}\"\n    environment: {SUB: \"${SUB}\"}\n",
	})
	extends := writeProject(t, map[string]string{
		".env": "BASE=b\nCHILD=c\nBASE_TTY=true\n",
		"compose.yaml": "services:\n  child:\n    extends: {file: base.yaml, service: base}\n" +
			"    environment: {CHILD: \"${CHILD}\"}\n",
		"base.yaml": "services:\n  base:\n    image: busybox\n    tty: \"${BASE_TTY}\"\n    environment: {BASE: \"${BASE}\"}\n",
	})
	// "t\x74y" is the key tty, which the text does not spell: the full mapping must be used, or its
	// quoted "true" stays a string.
	escaped := writeProject(t, map[string]string{
		".env":         "TTY_ON=true\nE=e\n",
		"compose.yaml": "services:\n  app:\n    image: busybox\n    \"t\\x74y\": \"${TTY_ON}\"\n    environment: {E: \"${E}\"}\n",
	})
	return []castCase{
		{"tricky", tricky, nil, trickyNames, true},
		{"tricky with the profile", tricky, []Option{WithProfiles("batch")}, trickyNames, true},
		{"shop", testdata(t, "shop"), nil, []string{"DB_PASSWORD", "API_TOKEN", "STRIPE_KEY", "SHARED_KEY",
			"SMTP_PASSWORD", "TRAEFIK_HOST", "WEB_MODE", "LOG_LEVEL", "HEALTH_PORT", "NOT_USED_ANYWHERE", "FEATURE_FLAG"}, true},
		{"include", include, nil, []string{"TOP", "SUB", "SUB_RO"}, false},
		{"extends", extends, nil, []string{"BASE", "CHILD", "BASE_TTY"}, false},
		{"escaped key", escaped, nil, []string{"TTY_ON", "E"}, false},
	}
}

// TestProbeCastsLoadsWhatTheFullMappingLoads: a load with the pruned cast mapping is deeply equal to a load
// with compose-go's own, with the project's environment and with a canary in every variable (or both fail).
func TestProbeCastsLoadsWhatTheFullMappingLoads(t *testing.T) {
	ctx := context.Background()
	for _, tc := range castCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Load(ctx, tc.dir, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			casts, _, ok := probeCasts(p.files)
			if ok != tc.pruned {
				t.Fatalf("probeCasts ok = %v, want %v", ok, tc.pruned)
			}
			if !ok {
				return
			}
			if full := composeCasts(); len(casts) >= len(full) {
				t.Errorf("nothing pruned: %d of %d patterns kept", len(casts), len(full))
			}
			canary, _, err := canaries(tc.names)
			if err != nil {
				t.Fatal(err)
			}
			for _, ov := range []map[string]string{nil, canary} {
				full, errFull := p.load(ctx, ov)
				pruned, errPruned := p.loadWith(ctx, ov, nil, withCasts(casts))
				if (errFull != nil) != (errPruned != nil) {
					t.Fatalf("full mapping: %v; pruned: %v", errFull, errPruned)
				}
				if errFull == nil && !reflect.DeepEqual(full, pruned) {
					t.Errorf("overrides %v: the pruned mapping loads another project", slices.Sorted(maps.Keys(ov)))
				}
			}
		})
	}
}

// TestConsumersOfVarsWithPrunedCasts: ConsumersOfVars with probes on the pruned mapping (and the probe of
// WithProbe) answers exactly what it answers with the full mapping and what ConsumersOfVar answers for each
// variable with the full mapping.
func TestConsumersOfVarsWithPrunedCasts(t *testing.T) {
	ctx := context.Background()
	for _, tc := range castCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			fast, err := Load(ctx, tc.dir, append(slices.Clone(tc.opts), WithProbe(tc.names...))...)
			if err != nil {
				t.Fatal(err)
			}
			got, err := fast.ConsumersOfVars(ctx, tc.names)
			if err != nil {
				t.Fatal(err)
			}
			if n := fast.prunedLoads.Load(); (n > 0) != tc.pruned {
				t.Errorf("%d probes loaded with a pruned mapping, want some: %v", n, tc.pruned)
			}
			slow, err := Load(ctx, tc.dir, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			slow.fullCasts = true
			want, err := slow.ConsumersOfVars(ctx, tc.names)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range tc.names {
				equal(t, n+" (combined)", got[n], want[n])
				one, err := slow.ConsumersOfVar(ctx, n)
				if err != nil {
					t.Fatal(err)
				}
				equal(t, n+" (one by one)", got[n], one)
			}
			if slow.prunedLoads.Load() != 0 {
				t.Error("fullCasts: a probe used the pruned mapping")
			}
		})
	}
}

// TestTrickyConsumers pins what discovery finds in the tricky project, so that the comparisons above compare
// answers that see every use.
func TestTrickyConsumers(t *testing.T) {
	ctx := context.Background()
	dir := castCases(t)[0].dir
	for _, tc := range []struct {
		opts []Option
		want map[string][]string
	}{
		{nil, map[string][]string{
			"TEAM": {"web"}, "NGINX_TAG": {"web"}, "BUILD_TOKEN": {"web"}, "REQUIRED": {"web"}, "OUTER": {"web"},
			"INNER": {"web"}, "HC_TOKEN": {"web"}, "WEB_PORT": {"web"}, "RO": {"web"}, "XMETA": {"web"},
			"NOFILE": {"web"}, "PROFILED": {}, "LBL": {"other"}, "CFG_VAL": {"web"}, "DB_SECRET": {"web"},
			"PASS": {"web"}, "WEB_ONLY": {"web"}, "TAG_OTHER": {"other"}, "UNUSED": {},
		}},
		{[]Option{WithProfiles("batch")}, map[string][]string{"PROFILED": {"worker"}, "LBL": {"other"}}},
	} {
		p, err := Load(ctx, dir, tc.opts...)
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.ConsumersOfVars(ctx, slices.Collect(maps.Keys(tc.want)))
		if err != nil {
			t.Fatal(err)
		}
		for n, want := range tc.want {
			svcs := []string{}
			for _, u := range got[n] {
				svcs = append(svcs, u.Service)
			}
			equal(t, n, svcs, want)
		}
	}
}

func TestKeysVerbatim(t *testing.T) {
	for _, tc := range []struct {
		text string
		want bool
	}{
		{"services:\n  a:\n    image: x\n    tty: 'true'\n", true},
		{"services:\n  a:\n    \"t\\x74y\": \"true\"\n", false},
		{"services:\n  a:\n    !!binary dHR5: \"true\"\n", false},
		{"services:\n  a:\n    !<tag:yaml.org,2002:str> tty: \"true\"\n", false},
		{"%TAG !e! tag:yaml.org,2002:\n---\nservices: {}\n", false},
		{"include: [other.yaml]\n", false},
		{"services:\n  a:\n    extends: b\n", false},
		{"s\x00e\x00r\x00", false},
		{"services: \xff\n", false},
	} {
		if got := keysVerbatim([]byte(tc.text)); got != tc.want {
			t.Errorf("keysVerbatim(%q) = %v, want %v", tc.text, got, tc.want)
		}
	}
}

// TestProbeCastsReadsEveryFile: a pattern is kept when its key is only in an override file.
func TestProbeCastsReadsEveryFile(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"a.yaml": "services:\n  app:\n    image: busybox\n",
		"b.yaml": "services:\n  app:\n    read_only: \"true\"\n",
	})
	casts, _, ok := probeCasts([]string{filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")})
	if !ok {
		t.Fatal("probeCasts refused plain files")
	}
	found := false
	for pattern := range casts {
		found = found || pattern == "services.*.read_only"
	}
	if !found {
		t.Error("services.*.read_only was pruned though b.yaml sets read_only")
	}
}

// TestLoadProbeReloadsAfterAnEdit: a compose file that changed between the read that pruned the mapping and
// the check after the load makes the probe load again with the full mapping, from the file as it is now.
func TestLoadProbeReloadsAfterAnEdit(t *testing.T) {
	ctx := context.Background()
	dir := writeProject(t, map[string]string{
		".env":         "A=a\n",
		"compose.yaml": "services:\n  app:\n    image: busybox\n    environment: {A: \"${A}\"}\n",
	})
	p, err := Load(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	edited := "services:\n  app:\n    image: busybox\n    read_only: \"true\"\n    environment: {A: \"${A}\"}\n"
	p.afterPrunedLoad = func() {
		if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(edited), 0o600); err != nil {
			t.Error(err)
		}
	}
	before := p.loads.Load()
	alt, err := p.loadProbe(ctx, map[string]string{"A": "x"})
	if err != nil {
		t.Fatal(err)
	}
	if n := p.loads.Load() - before; n != 2 {
		t.Errorf("%d loads, want 2 (the pruned probe, then the full one)", n)
	}
	if !alt.Services["app"].ReadOnly {
		t.Error("the probe is of the compose file before the edit")
	}
}

// TestLoadIsTheFullMappingsProject: the project Load keeps (loaded with the pruned mapping where that is
// safe) is the very project compose-go's full mapping loads.
func TestLoadIsTheFullMappingsProject(t *testing.T) {
	ctx := context.Background()
	for _, tc := range castCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Load(ctx, tc.dir, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			full, err := p.load(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p.p, full) {
				t.Error("Load's project differs from the one the full cast mapping loads")
			}
		})
	}
}
