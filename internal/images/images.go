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
	Postgres: {"postgres", "postgresql", "postgis", "timescaledb", "timescaledb-ha"},
	MySQL:    {"mariadb", "mysql", "mysql-server", "percona-server", "percona"},
	Mongo:    {"mongo", "mongodb"},
	Redis:    {"redis", "valkey", "keydb"},
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
// them at every start.
func ReadsOnlyAtInit(key, image string) bool {
	family, ok := bootstrapOnly[key]
	return ok && Family(image) == family
}
