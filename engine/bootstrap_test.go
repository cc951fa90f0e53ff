package engine

import (
	"testing"

	"github.com/rekeyhq/rekey/internal/images"
)

// TestDatabaseImageUsesTheSharedList: engine leaves unrolled exactly the images internal/images names for
// each bootstrap variable, the same list `rekey init` reads (discover's TestBootstrapGuessUsesTheSharedList).
func TestDatabaseImageUsesTheSharedList(t *testing.T) {
	for _, key := range images.BootstrapVars() {
		family, _ := images.BootstrapOnly(key)
		for _, f := range images.Families() {
			for _, name := range images.Names(f) {
				for _, image := range []string{name, name + ":16", "docker.io/library/" + name + "@sha256:0"} {
					if got, want := databaseImage(key, image), f == family; got != want {
						t.Errorf("databaseImage(%s, %s) = %v, want %v", key, image, got, want)
					}
				}
			}
		}
	}
	if databaseImage("DB_PASSWORD", "postgres") {
		t.Error("a variable outside the bootstrap list counted as bootstrap-only")
	}
}
