package live

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/rekeyhq/rekey/composeio"
	"github.com/rekeyhq/rekey/internal/testenv"
	"github.com/rekeyhq/rekey/swarmio"
)

// TestSwarmSecretsOf: the managed secrets of a stack come from its compose files: the file secrets at
// the given paths, and every service mounting each with its target (the key when none is given).
func TestSwarmSecretsOf(t *testing.T) {
	dir := t.TempDir()
	noErr(t, os.MkdirAll(filepath.Join(dir, "secrets"), 0o700))
	noErr(t, os.WriteFile(filepath.Join(dir, "secrets", "app_key"), []byte("x"), 0o600))
	noErr(t, os.WriteFile(filepath.Join(dir, "other"), []byte("y"), 0o600))
	noErr(t, os.WriteFile(filepath.Join(dir, "stack.yaml"), []byte(testenv.SwarmAppKeyStack("shop")+"  other:\n    file: ./other\n"), 0o600))
	p, err := composeio.Load(context.Background(), dir, composeio.WithFiles("stack.yaml"), composeio.WithProjectName("shop"))
	noErr(t, err)
	key := filepath.Join(dir, "secrets", "app_key")
	got := SwarmSecretsOf(p, []string{key})
	want := []SwarmSecret{{Key: "app_key", File: key, Mounts: map[string]string{"api": "app_key", "worker": "key.txt"}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// TestObjectName: a version's name carries 12 hex digits of the HMAC fingerprint, never the value, and
// fits Swarm's limit for the longest stack name rekey.yaml accepts with a common key.
func TestObjectName(t *testing.T) {
	if got := ObjectName("shop", "app_key", "hmac:0123456789abcdef"); got != "shop_app_key_0123456789ab" {
		t.Errorf("got %s", got)
	}
	if n := ObjectName("a23456789012345678901234567890", "session_key", "hmac:0123456789abcdef"); !swarmio.ValidSecretName(n) {
		t.Errorf("%s is not a valid object name", n)
	}
}
