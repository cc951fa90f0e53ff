// Package images is the one list of database images rekey recognises by name: which image serves which
// database, and which environment variables such an image reads only when it initialises an empty data
// directory. engine uses it to leave bootstrap-only consumers unrolled, discover (`rekey init`) to guess
// what kind of credential a variable is. It imports only the standard library.
package images

import (
	"maps"
	"slices"
	"strings"
)

// Database families, named as `rekey init` names the kind of a credential.
const (
	Postgres = "postgres"
	MySQL    = "mysql" // MySQL and MariaDB
	Mongo    = "mongodb"
	Redis    = "redis" // Redis and its forks
)

// byFamily lists the image repository names (without registry, namespace, tag or digest) of each family.
var byFamily = map[string][]string{
	Postgres: {"postgres", "postgresql", "postgis", "timescaledb", "timescaledb-ha", "pgvector", "pgvecto-rs", "postgresql-repmgr"},
	MySQL:    {"mariadb", "mysql", "mysql-server", "percona-server", "percona", "mariadb-galera"},
	Mongo:    {"mongo", "mongodb", "mongodb-community-server"},
	Redis:    {"redis", "valkey", "keydb", "redis-stack", "redis-stack-server", "dragonfly"},
}

// bootstrapOnly are environment variables the images of a family read only when they initialise an empty
// data directory: changing them afterwards changes nothing in the database.
var bootstrapOnly = map[string]string{
	"POSTGRES_PASSWORD":          Postgres,
	"MARIADB_ROOT_PASSWORD":      MySQL,
	"MYSQL_ROOT_PASSWORD":        MySQL,
	"MARIADB_PASSWORD":           MySQL,
	"MYSQL_PASSWORD":             MySQL,
	"MONGO_INITDB_ROOT_PASSWORD": Mongo,
}

// initSettings are the other variables those images read only at initialisation: the user and database
// to create. A value that a stack also uses as its password (the examples' POSTGRES_USER=postgres and
// DB_PASSWORD=postgres) reaches them too; it does not make the database read the password at every start.
var initSettings = map[string]string{
	"POSTGRES_USER": Postgres, "POSTGRES_DB": Postgres, "POSTGRES_INITDB_ARGS": Postgres,
	"MARIADB_USER": MySQL, "MARIADB_DATABASE": MySQL, "MYSQL_USER": MySQL, "MYSQL_DATABASE": MySQL,
	"MONGO_INITDB_ROOT_USERNAME": Mongo, "MONGO_INITDB_DATABASE": Mongo,
}

// installOnly are variables applications read only when they install themselves into an empty volume
// (an admin account, a database password copied into the app's own config file), by image repository
// path without registry or tag: a new value changes nothing in the running app, so its service is not
// rolled for it. Matched on the whole path or its last segments ("nextcloud" matches library/nextcloud).
var installOnly = map[string][]string{
	"nextcloud":                   {"NEXTCLOUD_ADMIN_PASSWORD", "MYSQL_PASSWORD", "POSTGRES_PASSWORD"},
	"keycloak/keycloak":           {"KC_BOOTSTRAP_ADMIN_PASSWORD", "KEYCLOAK_ADMIN_PASSWORD"},
	"goauthentik/server":          {"AUTHENTIK_BOOTSTRAP_PASSWORD", "AUTHENTIK_BOOTSTRAP_TOKEN"},
	"paperless-ngx/paperless-ngx": {"PAPERLESS_ADMIN_PASSWORD"},
	"grafana/grafana":             {"GF_SECURITY_ADMIN_PASSWORD"},
}

// repoPath is an image's repository path without registry, tag or digest, in lower case:
// ghcr.io/goauthentik/server:2025.6 → goauthentik/server.
func repoPath(image string) string {
	image, _, _ = strings.Cut(strings.ToLower(image), "@")
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		image = image[:i]
	}
	if first, rest, ok := strings.Cut(image, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		image = rest
	}
	return strings.TrimPrefix(image, "library/")
}

// readPrefixes are the variable name prefixes the official images read (their documented environment);
// any other variable in such a container's environment (an application's settings reaching it through a
// shared env_file) is ignored. Only these images: a derived one (Bitnami, timescaledb-ha, dragonfly,
// repmgr …) reads variables of its own, and a reader missed here is a consumer left on the old value.
var readPrefixes = map[string][]string{
	"postgres":      {"POSTGRES_", "PGDATA", "PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE"},
	"mariadb":       {"MYSQL_", "MARIADB_"},
	"mysql":         {"MYSQL_", "MARIADB_"},
	"mongo":         {"MONGO_"},
	"redis":         {"REDIS_", "VALKEY_"},
	"valkey/valkey": {"REDIS_", "VALKEY_"},
}

// Ignores reports whether image is an official database image that does not read variable key at all: a
// postgres container that also gets the application's SMTP_PASSWORD through a shared env_file.
func Ignores(key, image string) bool {
	prefixes, ok := readPrefixes[repoPath(image)]
	if !ok {
		return false
	}
	for _, p := range prefixes {
		if strings.HasPrefix(key, p) {
			return false
		}
	}
	return true
}

// InstallOnly reports whether image is an application that reads key only when it installs itself.
func InstallOnly(key, image string) bool {
	path := repoPath(image)
	for repo, keys := range installOnly {
		if (path == repo || strings.HasSuffix(path, "/"+repo)) && slices.Contains(keys, key) {
			return true
		}
	}
	return false
}

// Base is the repository name of an image without registry, namespace, tag or digest, in lower case:
// docker.io/bitnami/postgresql:16@sha256:… → postgresql.
func Base(image string) string {
	image, _, _ = strings.Cut(image, "@")
	if i := strings.LastIndex(image, "/"); i >= 0 {
		image = image[i+1:]
	}
	image, _, _ = strings.Cut(image, ":")
	return strings.ToLower(image)
}

// Family is the database family of an image, or "" for an image not named after a database.
func Family(image string) string {
	base := Base(image)
	for family, names := range byFamily {
		if slices.Contains(names, base) {
			return family
		}
	}
	return ""
}

// Names are the image repository names of a family, sorted.
func Names(family string) []string {
	return slices.Sorted(slices.Values(byFamily[family]))
}

// Families are the known families, sorted.
func Families() []string { return slices.Sorted(maps.Keys(byFamily)) }

// BootstrapOnly says whether the images of some family read the variable only at initialisation, and
// which family. The name is matched exactly (environment variables are case-sensitive).
func BootstrapOnly(key string) (family string, ok bool) {
	family, ok = bootstrapOnly[key]
	return family, ok
}

// BootstrapVars are the variables BootstrapOnly knows, sorted.
func BootstrapVars() []string { return slices.Sorted(maps.Keys(bootstrapOnly)) }

// ReadsOnlyAtInit reports whether image is one that reads key only at initialisation: an image named
// after the database. Other images reading the same names (a backup sidecar, a monitoring server) read
// them at every start. Applications that read a variable only when they install themselves count too
// (InstallOnly).
func ReadsOnlyAtInit(key, image string) bool {
	family, ok := bootstrapOnly[key]
	if !ok {
		family, ok = initSettings[key]
	}
	return ok && Family(image) == family || InstallOnly(key, image)
}

// ReadsFileOnlyAtInit reports whether image reads the file named by key (POSTGRES_PASSWORD_FILE) only at
// initialisation: the images that take KEY take KEY_FILE the same way.
func ReadsFileOnlyAtInit(key, image string) bool {
	base, ok := strings.CutSuffix(key, "_FILE")
	return ok && ReadsOnlyAtInit(base, image)
}
