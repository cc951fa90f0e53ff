package swarmio

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/client"

	"github.com/rekeyhq/rekey/dockerio"
)

// TestEngineAwayIsRetryable: a Swarm call to an engine that does not answer fails with an error the
// executor retries (a rollback waits for dockerd as on Compose), redacted, with its cause kept.
func TestEngineAwayIsRetryable(t *testing.T) {
	sock := "unix://" + filepath.Join(t.TempDir(), "no-dockerd.sock")
	cli, err := client.NewClientWithOpts(client.WithHost(sock), client.WithVersion("1.41"))
	if err != nil {
		t.Fatal(err)
	}
	s := &Swarm{cli: cli, redact: func(v string) string { return strings.ReplaceAll(v, "no-dockerd", "[hidden]") }}
	_, err = s.SecretsInUse(context.Background())
	if err == nil {
		t.Fatal("want an error from an engine that is not there")
	}
	if !dockerio.IsUnreachable(err) {
		t.Errorf("not marked unreachable: %v", err)
	}
	if strings.Contains(err.Error(), "no-dockerd") {
		t.Errorf("not redacted: %v", err)
	}
	if !client.IsErrConnectionFailed(err) {
		t.Errorf("the cause is lost: %v", err)
	}
}
