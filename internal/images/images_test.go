package images

import "testing"

func TestBase(t *testing.T) {
	for in, want := range map[string]string{
		"postgres":    "postgres",
		"postgres:16": "postgres",
		"docker.io/bitnami/postgresql:16@sha256:abc": "postgresql",
		"registry.local:5000/db/MariaDB:11":          "mariadb",
		"postgres@sha256:abc":                        "postgres",
		"":                                           "",
	} {
		if got := Base(in); got != want {
			t.Errorf("Base(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFamilies(t *testing.T) {
	seen := map[string]string{}
	for _, f := range Families() {
		if len(Names(f)) == 0 {
			t.Errorf("family %s has no image", f)
		}
		for _, n := range Names(f) {
			if other, ok := seen[n]; ok {
				t.Errorf("image %s is in %s and %s", n, other, f)
			}
			seen[n] = f
			if got := Family("docker.io/library/" + n + ":latest"); got != f {
				t.Errorf("Family(%s) = %q, want %q", n, got, f)
			}
		}
	}
	for _, img := range []string{"nginx", "postgres-exporter", "prodrigestivill/postgres-backup-local", "redis-commander"} {
		if got := Family(img); got != "" {
			t.Errorf("Family(%s) = %q, want none", img, got)
		}
	}
}

func TestReadsOnlyAtInit(t *testing.T) {
	for _, key := range BootstrapVars() {
		family, ok := BootstrapOnly(key)
		if !ok || len(Names(family)) == 0 {
			t.Fatalf("%s: family %q unknown", key, family)
		}
		for _, n := range Names(family) {
			if !ReadsOnlyAtInit(key, n+":1") {
				t.Errorf("%s is not bootstrap-only for %s", key, n)
			}
		}
		if ReadsOnlyAtInit(key, "alpine") || ReadsOnlyAtInit(key, "redis") {
			t.Errorf("%s is bootstrap-only for an image that is not a %s", key, family)
		}
	}
	if ReadsOnlyAtInit("postgres_password", "postgres") || ReadsOnlyAtInit("PGPASSWORD", "postgres") {
		t.Error("a variable the image reads at every start counted as bootstrap-only")
	}
}

// TestInstallOnly: applications that read a variable only at install time, by repository path, in any
// registry and tag; a variable they read at every start, or the same name in another image, is not.
func TestInstallOnly(t *testing.T) {
	for _, c := range []struct {
		key, image string
		want       bool
	}{
		{"NEXTCLOUD_ADMIN_PASSWORD", "nextcloud:29-apache", true},
		{"MYSQL_PASSWORD", "docker.io/library/nextcloud:stable", true},
		{"REDIS_HOST_PASSWORD", "nextcloud", false},
		{"KC_BOOTSTRAP_ADMIN_PASSWORD", "quay.io/keycloak/keycloak:26.0", true},
		{"AUTHENTIK_BOOTSTRAP_PASSWORD", "ghcr.io/goauthentik/server:2025.6.3", true},
		{"AUTHENTIK_BOOTSTRAP_PASSWORD", "example/server:1", false},
		{"PAPERLESS_ADMIN_PASSWORD", "ghcr.io/paperless-ngx/paperless-ngx:latest", true},
		{"PAPERLESS_DBPASS", "ghcr.io/paperless-ngx/paperless-ngx:latest", false},
		{"NEXTCLOUD_ADMIN_PASSWORD", "localhost:5000/mirror/nextcloud@sha256:00", true},
	} {
		if got := ReadsOnlyAtInit(c.key, c.image); got != c.want {
			t.Errorf("ReadsOnlyAtInit(%s, %s) = %v, want %v", c.key, c.image, got, c.want)
		}
	}
	if !ReadsFileOnlyAtInit("POSTGRES_PASSWORD_FILE", "postgres:16") || ReadsFileOnlyAtInit("POSTGRES_PASSWORD", "postgres:16") ||
		ReadsFileOnlyAtInit("DB_PASSWORD_FILE", "postgres:16") || !ReadsFileOnlyAtInit("MARIADB_ROOT_PASSWORD_FILE", "mariadb:11") {
		t.Error("ReadsFileOnlyAtInit")
	}
}

// TestIgnoresOnlyOfficialImages: only the official images' own variables are known; a derived image reads
// variables of its own (dragonfly's DFLY_requirepass, Bitnami's POSTGRESQL_PASSWORD), so nothing is
// ignored there.
func TestIgnoresOnlyOfficialImages(t *testing.T) {
	for _, tc := range []struct {
		key, image string
		want       bool
	}{
		{"MAIL_PASSWORD", "postgres:16", true},
		{"POSTGRES_PASSWORD", "postgres:16", false},
		{"DFLY_requirepass", "docker.dragonflydb.io/dragonflydb/dragonfly", false},
		{"POSTGRESQL_PASSWORD", "bitnami/postgresql:16", false},
		{"PATRONI_SUPERUSER_PASSWORD", "timescale/timescaledb-ha:pg16", false},
		{"MAIL_PASSWORD", "nginx", false},
	} {
		if got := Ignores(tc.key, tc.image); got != tc.want {
			t.Errorf("Ignores(%s, %s) = %v, want %v", tc.key, tc.image, got, tc.want)
		}
	}
}
