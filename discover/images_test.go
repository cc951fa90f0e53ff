package discover

import (
	"testing"

	"github.com/rekeyhq/rekey/internal/images"
)

// TestBootstrapGuessUsesTheSharedList: init calls a variable bootstrap-only exactly when engine leaves its
// database service unrolled (engine's TestDatabaseImageUsesTheSharedList reads the same list), and guesses
// the kind of a password read by any image of a family from that family.
func TestBootstrapGuessUsesTheSharedList(t *testing.T) {
	for _, key := range images.BootstrapVars() {
		family, _ := images.BootstrapOnly(key)
		if g := guessKind(key, "", nil, false); !g.Bootstrap || g.Kind != family {
			t.Errorf("guessKind(%s) = %+v, want bootstrap-only %s", key, g, family)
		}
	}
	for _, family := range []string{images.Postgres, images.MySQL} {
		for _, name := range images.Names(family) {
			if g := guessKind("DB_PASSWORD", "", []string{"registry.example/lib/" + name + ":1"}, false); g.Kind != family || g.Bootstrap {
				t.Errorf("DB_PASSWORD read by %s: %+v, want %s", name, g, family)
			}
		}
	}
	for _, name := range images.Names(images.Redis) {
		if g := guessKind("CACHE_SECRET", "", []string{name}, true); g.Kind != kindRedis {
			t.Errorf("CACHE_SECRET in the command of %s: %+v, want redis", name, g)
		}
	}
	// The union: images only engine knew before (postgis, timescaledb, percona) are now guessed too.
	for img, want := range map[string]string{"postgis/postgis:16-3.4": kindPostgres, "timescale/timescaledb-ha:pg16": kindPostgres, "percona:8": kindMySQL} {
		if g := guessKind("APP_DB_PASSWORD", "", []string{img}, false); g.Kind != want {
			t.Errorf("APP_DB_PASSWORD read by %s: %+v, want %s", img, g, want)
		}
	}
}
