package engine

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/composeio"
	"github.com/rekeyhq/rekey/config"
)

// TestBootstrapReadersBeyondTheName: postgres reads a compose secret through POSTGRES_PASSWORD_FILE and a
// bind-mounted file through MARIADB_ROOT_PASSWORD_FILE only at initialisation; an install-only app reads
// a variable of its env_file once; a database container ignores the app's variables reaching it through
// a shared env_file, even when a user name has the same value. None of them is rolled.
func TestBootstrapReadersBeyondTheName(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"compose.yaml": `services:
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD_FILE: /run/secrets/db_password
      POSTGRES_USER: ${APP_PASSWORD}
    env_file: [shared.env]
    secrets: [db_password]
  maria:
    image: mariadb:11
    environment:
      MARIADB_ROOT_PASSWORD_FILE: /run/secrets/root
    volumes:
      - ./secrets/root.txt:/run/secrets/root:ro
  app:
    image: nextcloud:apache
    env_file: [shared.env]
    environment:
      APP_PASSWORD: ${APP_PASSWORD}
    secrets: [db_password]
secrets:
  db_password:
    file: ./secrets/db_password.txt
`,
		".env":                    "APP_PASSWORD=same-as-user\n",
		"shared.env":              "NEXTCLOUD_ADMIN_PASSWORD=admin-pw-1\nMAIL_PASSWORD=mail-pw-1\n",
		"secrets/db_password.txt": "db-pw-1",
		"secrets/root.txt":        "root-pw-1",
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
	cfg, err := config.Parse("rekey.yaml", []byte(rekeyYAML(dir, `  db-password: {type: token, file: secrets/db_password.txt}
  root: {type: token, file: secrets/root.txt}
  admin: {type: token, env: {value: NEXTCLOUD_ADMIN_PASSWORD}}
  mail: {type: token, env: {value: MAIL_PASSWORD}}
  app: {type: token, env: {value: APP_PASSWORD}}
`)))
	if err != nil {
		t.Fatal(err)
	}
	p, err := composeio.Load(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Build(context.Background(), Input{Config: cfg, Project: p, FP: func(v string) string { return v },
		Values: map[string]string{"db-password": "db-pw-1", "root": "root-pw-1", "admin": "admin-pw-1", "mail": "mail-pw-1", "app": "same-as-user"}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range d.Secrets {
		var parts []string
		for _, c := range s.Consumers {
			parts = append(parts, c.Name+"/"+string(c.Action)+"/"+c.Via[len(c.Via)-1])
		}
		slices.Sort(parts)
		got[s.Name] = strings.Join(parts, " ")
	}
	want := map[string]string{
		"db-password": "app/restart/secret:/run/secrets/db_password db/none/bootstrap-only:POSTGRES_PASSWORD_FILE",
		"root":        "maria/none/bootstrap-only:MARIADB_ROOT_PASSWORD_FILE",
		"admin":       "app/none/bootstrap-only:NEXTCLOUD_ADMIN_PASSWORD db/none/not-read-by-image:NEXTCLOUD_ADMIN_PASSWORD",
		"mail":        "app/recreate/env_file:" + filepath.Join(dir, "shared.env") + " db/none/not-read-by-image:MAIL_PASSWORD",
		"app":         "app/recreate/interpolation:environment db/none/bootstrap-only:POSTGRES_USER",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s:\n got  %s\n want %s", k, got[k], w)
		}
	}
}
