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
