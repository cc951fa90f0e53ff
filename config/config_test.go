package config

import (
	"strings"
	"testing"
	"time"
)

const good = `version: 1
compose:
  project_dir: /srv/shop
  project_name: shop
values: secrets.sops.yaml
secrets:
  session-key:
    type: app-key
    env: {current: SESSION_SECRET, previous: SESSION_SECRET_PREVIOUS}
    keep_previous: 1d
  webhook-token:
    type: token
    file: secrets/webhook_token.txt
  backup-key:
    type: token
    env: {value: BACKUP_KEY}
    consumers:
      - host_file: /etc/shop/backup.env
        key: BACKUP_KEY
        verify: {cmd: ["/usr/local/bin/shop-backup", "--check"]}
verify:
  - http: {url: "http://127.0.0.1:8080/healthz", status: 200}
  - logs: {deny: ["invalid signature"]}
`

func TestParseGood(t *testing.T) {
	c, err := Parse("rekey.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Names(), ","); got != "backup-key,session-key,webhook-token" {
		t.Errorf("names = %s", got)
	}
	s := c.Secrets["session-key"]
	if cur, prev := s.Vars(); cur != "SESSION_SECRET" || prev != "SESSION_SECRET_PREVIOUS" {
		t.Errorf("vars = %s, %s", cur, prev)
	}
	if s.KeepPrevious.Duration != 24*time.Hour {
		t.Errorf("keep_previous = %v", s.KeepPrevious)
	}
	if cur, _ := c.Secrets["backup-key"].Vars(); cur != "BACKUP_KEY" {
		t.Errorf("token var = %s", cur)
	}
	if c.Line("secrets.webhook-token") != 11 {
		t.Errorf("line of webhook-token = %d", c.Line("secrets.webhook-token"))
	}
	if c.Verify[0].HTTP.Status != 200 || c.Verify[1].Logs.Deny[0] != "invalid signature" {
		t.Errorf("verify = %+v", c.Verify)
	}
}

func TestParseErrorsNameFileAndLine(t *testing.T) {
	tests := []struct{ name, edit, want string }{
		{"unknown field", "    keep_previous: 1d\n", "    keep_previous: 1d\n    keep_prevous: 2d\n"},
		{"unknown type", "    type: token\n    file:", "    type: tokn\n    file:"},
		{"app key without previous", "{current: SESSION_SECRET, previous: SESSION_SECRET_PREVIOUS}", "{current: SESSION_SECRET}"},
		{"bad duration", "keep_previous: 1d", "keep_previous: soon"},
		{"malformed yaml", "secrets:\n", "secrets:\n  - [\n"},
		{"check with two kinds", `  - logs: {deny: ["invalid signature"]}`, `  - logs: {deny: ["x"]}` + "\n    cmd: [true]"},
		{"relative host file", "host_file: /etc/shop/backup.env", "host_file: etc/backup.env"},
	}
	wants := map[string]string{
		"unknown field":            `rekey.yaml:11: field keep_prevous is not a known field of a secret`,
		"unknown type":             `rekey.yaml:12: secret webhook-token: unknown type "tokn" (want app-key or token)`,
		"app key without previous": `rekey.yaml:9: secret session-key: an app-key needs env.current and env.previous`,
		"bad duration":             `rekey.yaml:10: invalid duration "soon"`,
		"malformed yaml":           `rekey.yaml:6: did not find expected`,
		"check with two kinds":     `rekey.yaml:23: a check has exactly one of http, exec, logs or cmd`,
		"relative host file":       `rekey.yaml:18: secret backup-key: host_file must be an absolute path`,
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(good, tc.edit, tc.want, 1)
			if src == good {
				t.Fatalf("edit %q did not apply", tc.edit)
			}
			_, err := Parse("rekey.yaml", []byte(src))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), wants[tc.name]) {
				t.Errorf("error %q does not contain %q", err, wants[tc.name])
			}
		})
	}
}

func TestParseRequiresBasics(t *testing.T) {
	_, err := Parse("rekey.yaml", []byte("version: 2\nsecrets: {}\n"))
	for _, want := range []string{"rekey.yaml:1: version must be 1", "compose.project_dir is required", "values is required", "no secrets declared"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not contain %q", err, want)
		}
	}
	if _, err := Parse("rekey.yaml", nil); err == nil || !strings.Contains(err.Error(), "empty file") {
		t.Errorf("empty: %v", err)
	}
}

func TestHealAndAlerts(t *testing.T) {
	src := strings.Replace(good, "    keep_previous: 1d\n", "    keep_previous: 1d\n    heal: false\n", 1) +
		"drift: {heal: true}\nalerts:\n  urls: [slack-url, ntfy-url]\n"
	c, err := Parse("rekey.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if c.Heals("session-key") || !c.Heals("webhook-token") {
		t.Errorf("Heals: session-key %v (want false, its own), webhook-token %v (want true, global)",
			c.Heals("session-key"), c.Heals("webhook-token"))
	}
	if got := strings.Join(c.Alerts.URLs, ","); got != "slack-url,ntfy-url" {
		t.Errorf("alert urls = %s", got)
	}
	for bad, want := range map[string]string{
		"alerts:\n  urls: [session-key]\n": "rekey.yaml:25: alerts.urls: session-key is a managed secret",
		"alerts:\n  urls: [Bad Name]\n":    `rekey.yaml:25: alerts.urls: "Bad Name" is not the name of an entry`,
	} {
		_, err := Parse("rekey.yaml", []byte(good+bad))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", bad, err, want)
		}
	}
}

// TestDurationsFiniteAndInRange: NaN, infinite, overflowing, negative and over-long durations are
// refused with the file, the line and the field (the old parser turned NaNd, Infd and 1e300d into a
// negative keep_previous).
func TestDurationsFiniteAndInRange(t *testing.T) {
	for value, reason := range map[string]string{
		"NaNd": "not a number", "nand": "not a number", "Infd": "too long", "+Infd": "too long",
		"-Infd": "negative", "1e300d": "too long", "3651d": "too long", "-1d": "negative",
		"-5m": "negative", "87601h": "too long", "9999999999h": "not a duration", "1e3h": "not a duration",
		"d": "not a number of days",
	} {
		src := strings.Replace(good, "keep_previous: 1d", "keep_previous: "+value, 1)
		_, err := Parse("rekey.yaml", []byte(src))
		want := `rekey.yaml:10: invalid duration "` + value + `" for secrets.session-key.keep_previous: ` + reason
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", value, err, want)
		}
	}
	for value, want := range map[string]time.Duration{"3650d": MaxDuration, "0.5d": 12 * time.Hour, "87600h": MaxDuration, "0s": 0} {
		c, err := Parse("rekey.yaml", []byte(strings.Replace(good, "keep_previous: 1d", "keep_previous: "+value, 1)))
		if err != nil {
			t.Errorf("%s: %v", value, err)
		} else if got := c.Secrets["session-key"].KeepPrevious.Duration; got != want {
			t.Errorf("%s = %v, want %v", value, got, want)
		}
	}
	// In a flow mapping, the field is still named.
	src := good + "  - http: {url: \"http://127.0.0.1/\", timeout: NaNd}\n"
	if _, err := Parse("rekey.yaml", []byte(src)); err == nil || !strings.Contains(err.Error(), `rekey.yaml:24: invalid duration "NaNd" for verify.2.http.timeout`) {
		t.Errorf("flow mapping: %v", err)
	}
}

// TestFileOutsideProject: a file: that leaves compose.project_dir is refused, naming the line and the
// secret, unless declared with its absolute path and file_outside_project (the old parser accepted
// `file: ../outside/x` without a word).
func TestFileOutsideProject(t *testing.T) {
	const at = "    file: secrets/webhook_token.txt\n"
	for file, want := range map[string]string{
		"../outside/x":            `rekey.yaml:13: secret webhook-token: file ../outside/x is outside compose.project_dir /srv/shop`,
		"secrets/../../etc/x":     `rekey.yaml:13: secret webhook-token: file secrets/../../etc/x is outside compose.project_dir /srv/shop`,
		"/etc/shop/token":         `rekey.yaml:13: secret webhook-token: file /etc/shop/token is outside compose.project_dir /srv/shop`,
		"/srv/shopping/token.txt": `is outside compose.project_dir /srv/shop`,
	} {
		_, err := Parse("rekey.yaml", []byte(strings.Replace(good, at, "    file: "+file+"\n", 1)))
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "file_outside_project: true") {
			t.Errorf("%s: error %v, want %q", file, err, want)
		}
	}
	for _, ok := range []string{"    file: /srv/shop/secrets/t.txt\n", "    file: ./secrets/t.txt\n",
		"    file: /etc/shop/token\n    file_outside_project: true\n"} {
		if _, err := Parse("rekey.yaml", []byte(strings.Replace(good, at, ok, 1))); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for bad, want := range map[string]string{
		"    file: ../x\n    file_outside_project: true\n": `rekey.yaml:13: secret webhook-token: a file outside the project must be an absolute path`,
		"    file_outside_project: true\n":                 `rekey.yaml:14: secret webhook-token: file_outside_project without a file`,
	} {
		src := strings.Replace(good, at, bad, 1)
		if bad == "    file_outside_project: true\n" {
			src = strings.Replace(good, at, "    env: {value: HOOK}\n"+bad, 1)
		}
		if _, err := Parse("rekey.yaml", []byte(src)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", bad, err, want)
		}
	}
}
