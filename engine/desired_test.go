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

const compose = `services:
  db:
    image: scratch-db
  app:
    image: scratch-app
    environment:
      SESSION_SECRET: ${SESSION_SECRET}
      SESSION_SECRET_PREVIOUS: ${SESSION_SECRET_PREVIOUS:-}
    secrets: [webhook_token]
    depends_on: [db]
  worker:
    image: scratch-app
    command: ["worker", "--key=${SESSION_SECRET}"]
    depends_on: [app]
  cron:
    image: scratch-cron
    env_file: [cron.env]
secrets:
  webhook_token:
    file: ./secrets/webhook_token.txt
`

func writeProject(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"compose.yaml":              compose,
		".env":                      "# demo\nSESSION_SECRET=old-session-secret-value\nSESSION_SECRET_PREVIOUS=\n",
		"cron.env":                  "BACKUP_KEY=old-backup\n",
		"secrets/webhook_token.txt": "old-token",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func rekeyYAML(dir, secrets string) string {
	return "version: 1\ncompose: {project_dir: " + dir + ", project_name: shop}\nvalues: secrets.sops.yaml\n" +
		"verify:\n  - http: {url: \"http://127.0.0.1:1/healthz\"}\nsecrets:\n" + secrets
}

const allSecrets = `  session-key:
    type: app-key
    env: {current: SESSION_SECRET, previous: SESSION_SECRET_PREVIOUS}
  webhook-token:
    type: token
    file: secrets/webhook_token.txt
  backup-key:
    type: token
    env: {value: BACKUP_KEY}
`

var allValues = map[string]string{"session-key": "s2", "webhook-token": "t2", "backup-key": "b2"}

func build(t *testing.T, dir, secrets string, values map[string]string) (reconcile.Desired, error) {
	t.Helper()
	cfg, err := config.Parse("rekey.yaml", []byte(rekeyYAML(dir, secrets)))
	if err != nil {
		t.Fatal(err)
	}
	p, err := composeio.Load(context.Background(), dir, composeio.WithProjectName("shop"))
	if err != nil {
		t.Fatal(err)
	}
	return Build(context.Background(), Input{Config: cfg, Project: p, Values: values,
		FP: func(v string) string { return "fp(" + v + ")" }, Revision: "abc"})
}

func TestBuildDiscoversConsumersAndOrder(t *testing.T) {
	dir := writeProject(t)
	d, err := build(t, dir, allSecrets, allValues)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range d.Secrets {
		var parts []string
		for _, c := range s.Consumers {
			parts = append(parts, c.Name+"/"+string(c.Action))
		}
		var locs []string
		for _, l := range append(s.Current, s.Previous...) {
			locs = append(locs, strings.TrimPrefix(l.String(), dir+"/"))
		}
		got[s.Name] = strings.Join(parts, " ") + " | " + strings.Join(locs, " ") + " | " + s.DesiredFP
		if len(s.Checks) != 1 || s.Checks[0].Status != 200 {
			t.Errorf("%s: checks = %+v, want the global http check with default status 200", s.Name, s.Checks)
		}
	}
	want := map[string]string{
		"session-key":   "app/recreate worker/recreate | .env:SESSION_SECRET .env:SESSION_SECRET_PREVIOUS | fp(s2)",
		"webhook-token": "app/restart | secrets/webhook_token.txt | fp(t2)",
		"backup-key":    "cron/recreate | cron.env:BACKUP_KEY | fp(b2)",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s:\n got  %s\n want %s", k, got[k], w)
		}
	}
}

func TestBuildRejectsBadInput(t *testing.T) {
	tests := []struct {
		name, secrets string
		values        map[string]string
		edit          func(dir string)
		want          string
	}{
		{name: "unknown service", secrets: allSecrets + "    consumers: [{service: mailer}]\n", values: allValues,
			want: `rekey.yaml:16: secret backup-key: unknown service "mailer" in compose project shop`},
		{name: "unused variable", secrets: "  k:\n    type: token\n    env: {value: NOT_USED}\n", values: map[string]string{"k": "v"},
			want: "rekey.yaml:9: secret k: variable NOT_USED is not used by any service of compose project shop"},
		{name: "missing value", secrets: allSecrets, values: map[string]string{"session-key": "s2", "backup-key": "b2"},
			want: "secret webhook-token is missing from the values file secrets.sops.yaml"},
		{name: "missing file", secrets: "  k:\n    type: token\n    file: secrets/nope.txt\n", values: map[string]string{"k": "v"},
			want: "rekey.yaml:9: secret k: file " + "DIR/secrets/nope.txt: no such file or directory"},
		{name: "exec check on an unknown service", secrets: "  k:\n    type: token\n    env: {value: BACKUP_KEY}\n    verify: [{exec: {service: nope, cmd: [\"true\"]}}]\n",
			values: map[string]string{"k": "v"}, want: `rekey.yaml:10: exec check: unknown service "nope" in compose project shop`},
		{name: "two secrets at one location", secrets: "  a:\n    type: token\n    env: {value: BACKUP_KEY}\n  b:\n    type: token\n    env: {value: BACKUP_KEY}\n",
			values: map[string]string{"a": "v1", "b": "v2"}, want: "rekey.yaml:10: secrets a and b both live at " + "DIR/cron.env:BACKUP_KEY"},
		{name: "a NUL byte in an env value", secrets: "  k:\n    type: token\n    env: {value: BACKUP_KEY}\n",
			values: map[string]string{"k": "a\x00b"}, want: "rekey.yaml:9: secret k: its value holds a NUL byte"},
		{name: "cyclic depends_on", secrets: allSecrets, values: allValues,
			edit: func(dir string) {
				c := strings.Replace(compose, "  db:\n    image: scratch-db\n", "  db:\n    image: scratch-db\n    depends_on: [worker]\n", 1)
				os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(c), 0o600)
			},
			want: "cycl"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeProject(t)
			if tc.edit != nil {
				tc.edit(dir)
			}
			_, err := buildOrLoadErr(t, dir, tc.secrets, tc.values)
			want := strings.ReplaceAll(tc.want, "DIR", dir)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error = %v, want it to contain %q", err, want)
			}
			for _, v := range tc.values {
				if strings.Contains(err.Error(), v) && len(v) > 1 {
					t.Errorf("error leaks a value: %v", err)
				}
			}
		})
	}
}

// buildOrLoadErr is build, except that a project compose-go refuses to load is an error, not a fatal.
func buildOrLoadErr(t *testing.T, dir, secrets string, values map[string]string) (reconcile.Desired, error) {
	cfg, err := config.Parse("rekey.yaml", []byte(rekeyYAML(dir, secrets)))
	if err != nil {
		t.Fatal(err)
	}
	p, err := composeio.Load(context.Background(), dir, composeio.WithProjectName("shop"))
	if err != nil {
		return reconcile.Desired{}, err
	}
	return Build(context.Background(), Input{Config: cfg, Project: p, Values: values,
		FP: func(v string) string { return "fp(" + v + ")" }})
}

func TestBuildIsolatesInvalidSecrets(t *testing.T) {
	dir := writeProject(t)
	secrets := allSecrets + "  broken:\n    type: token\n    env: {value: NOT_USED}\n"
	cfg, err := config.Parse("rekey.yaml", []byte(rekeyYAML(dir, secrets)))
	if err != nil {
		t.Fatal(err)
	}
	p, err := composeio.Load(context.Background(), dir, composeio.WithProjectName("shop"))
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]string{"session-key": "s2", "webhook-token": "t2", "backup-key": "b2", "broken": "x"}
	in := Input{Config: cfg, Project: p, Values: values, FP: func(v string) string { return "fp(" + v + ")" }}
	if _, err := Build(context.Background(), in); err == nil || !strings.Contains(err.Error(), "NOT_USED") {
		t.Fatalf("strict build: %v", err)
	}
	skipped := map[string]error{}
	in.Skip = func(s string, err error) { skipped[s] = err }
	d, err := Build(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Secrets) != 3 || len(skipped) != 1 || skipped["broken"] == nil {
		t.Errorf("built %d secrets, skipped %v; want 3 built and broken skipped", len(d.Secrets), skipped)
	}
}

// TestBuildCarriesTheRotationClass: a never secret is kept (the planner refuses to replace its live
// value), allow_destroy lets one change through.
func TestBuildCarriesTheRotationClass(t *testing.T) {
	dir := writeProject(t)
	secrets := strings.Replace(allSecrets, "    file: secrets/webhook_token.txt\n", "    file: secrets/webhook_token.txt\n    rotation: never\n", 1)
	for _, extra := range []string{"", "allow_destroy: [webhook-token]\n"} {
		cfg, err := config.Parse("rekey.yaml", []byte(rekeyYAML(dir, secrets)+extra))
		if err != nil {
			t.Fatal(err)
		}
		p, err := composeio.Load(context.Background(), dir, composeio.WithProjectName("shop"))
		if err != nil {
			t.Fatal(err)
		}
		d, err := Build(context.Background(), Input{Config: cfg, Project: p, Values: allValues, FP: func(v string) string { return v }})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range d.Secrets {
			if s.Keep != (s.Name == "webhook-token") || s.AllowDestroy != (extra != "" && s.Name == "webhook-token") {
				t.Errorf("%q: %s keep=%v allow=%v", extra, s.Name, s.Keep, s.AllowDestroy)
			}
		}
	}
}
