package dockerio

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
)

// ConfigHashes asks compose once for all the services (`config --hash a,b`) and reads one line each.
func TestConfigHashesOneRunForSeveralServices(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh to stand in for compose")
	}
	ctx := context.Background()
	c := Compose{Command: []string{"/bin/sh", "-c",
		`[ "$1 $2" = "config --hash" ] || exit 3; for s in $(echo "$3" | tr , ' '); do [ "$s" = gone ] || echo "$s h-$s"; done`, "sh"}}
	got, err := c.ConfigHashes(ctx, "app", "worker")
	if err != nil || len(got) != 2 || got["app"] != "h-app" || got["worker"] != "h-worker" {
		t.Fatalf("ConfigHashes = %v, %v", got, err)
	}
	if h, err := c.ConfigHash(ctx, "app"); err != nil || h != "h-app" {
		t.Errorf("ConfigHash = %q, %v", h, err)
	}
	if _, err := c.ConfigHashes(ctx, "app", "gone"); !errors.Is(err, ErrNoHash) || !strings.Contains(err.Error(), "gone") {
		t.Errorf("a service compose printed nothing for: %v", err)
	}
	if _, err := c.ConfigHashes(ctx, "app,worker"); err == nil {
		t.Error("want an error for a name with a comma")
	}
	if _, err := c.ConfigHashes(ctx); err == nil {
		t.Error("want an error without services")
	}
}
