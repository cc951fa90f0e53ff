package dockerio

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/rekeyhq/rekey/reconcile"
)

// TestUnreachableEngine: a call to an engine whose socket is missing (dockerd stopped) fails with an
// error a rollback retries; an engine that answers with an error does not (see the NotFound cases in
// the Docker tests).
func TestUnreachableEngine(t *testing.T) {
	sock := "unix://" + filepath.Join(t.TempDir(), "docker.sock")
	cli, err := client.NewClientWithOpts(client.WithHost(sock), client.WithVersion("1.41"))
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	e := &Engine{cli: cli, host: sock, redact: func(s string) string { return s }, poll: 10 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	_, err = e.Containers(ctx, "p", "worker")
	if !IsUnreachable(err) || !reconcile.IsRetryable(err) {
		t.Errorf("Containers on a missing socket: %v (unreachable %v), want an unreachable, retryable error", err, IsUnreachable(err))
	}
	err = e.Restart(ctx, "abc", time.Second)
	if !IsUnreachable(err) || !reconcile.IsRetryable(err) {
		t.Errorf("Restart on a missing socket: %v, want an unreachable, retryable error", err)
	}
	err = e.WaitHealthy(ctx, "p", "worker", time.Second)
	if !reconcile.IsRetryable(err) {
		t.Errorf("WaitHealthy on a missing socket: %v, want a retryable error", err)
	}
	if IsUnreachable(errors.New("no such container")) || reconcile.IsRetryable(e.safe(errors.New("conflict"))) {
		t.Error("an engine's own error is marked retryable")
	}
}

// TestUnreachableCompose: the Compose CLI's "cannot connect" output makes a retryable error; any other
// failure does not.
func TestUnreachableCompose(t *testing.T) {
	for _, tc := range []struct {
		stderr string
		want   bool
	}{
		{"failed to connect to the docker API at unix:///var/run/docker.sock; check if the path is correct and if the daemon is running: dial unix /var/run/docker.sock: connect: no such file or directory", true},
		{"Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?", true},
		{"service \"worker\" refers to undefined network back: invalid compose project", false},
	} {
		c := Compose{Command: []string{"sh", "-c", "echo \"$0\" >&2; exit 1", tc.stderr}, Dir: t.TempDir()}
		_, err := c.Run(context.Background(), "up")
		if err == nil {
			t.Fatal("the fake compose succeeded")
		}
		if got := reconcile.IsRetryable(err); got != tc.want {
			t.Errorf("compose failing with %q: retryable %v, want %v (%v)", tc.stderr, got, tc.want, err)
		}
		if !strings.Contains(err.Error(), tc.stderr[:20]) {
			t.Errorf("the error lost compose's output: %v", err)
		}
	}
}
