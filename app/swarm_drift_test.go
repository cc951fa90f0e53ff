package app

import (
	"errors"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/config"
	"github.com/rekeyhq/rekey/live"
	"github.com/rekeyhq/rekey/reconcile"
)

// TestSwarmReasons: a stale Swarm consumer says what it means there (a task or the spec off the files),
// not that a container started before its source changed; other places keep their reasons.
func TestSwarmReasons(t *testing.T) {
	ds := []reconcile.Drift{
		{Place: reconcile.PlaceConsumer, Name: "worker", Container: "abc", State: reconcile.DriftStaleConsumer, Reason: "x"},
		{Place: reconcile.PlaceConsumer, Name: "worker", Container: "spec", State: reconcile.DriftStaleConsumer, Reason: "x"},
		{Place: reconcile.PlaceSource, Name: "app.env", State: reconcile.DriftSourceEdited, Reason: "kept"},
	}
	swarmReasons(ds)
	if !strings.HasPrefix(ds[0].Reason, "task abc runs another value") || !strings.HasPrefix(ds[1].Reason, "the service's spec runs") {
		t.Errorf("reasons: %q, %q", ds[0].Reason, ds[1].Reason)
	}
	if ds[2].Reason != "kept" {
		t.Errorf("a source's reason changed: %q", ds[2].Reason)
	}
}

// TestSwarmDriftAsksServersThroughRelays: on Swarm a drift scan asks the credential servers through
// apply's relay drivers, or says why the swarm could not be read; it built the Compose drivers, which
// look for a Compose container of the server and never find a Swarm task's, so every server was
// reported unknown ("has no running container") whatever it held.
func TestSwarmDriftAsksServersThroughRelays(t *testing.T) {
	cfg := &config.Config{Swarm: config.Swarm{Stack: "shop", RelayImage: "rekey:dev"},
		Servers: map[string]*config.Server{"api": {Type: config.ServerHTTP}},
		Secrets: map[string]*config.Secret{"key": {Server: "api"}}}
	s := &Session{Config: cfg}
	_, err := s.driftCredentials(nil, &live.DriftScanner{Swarm: swarmUnreachable{errors.New("not a swarm manager")}})
	if err == nil || !strings.Contains(err.Error(), "not a swarm manager") {
		t.Errorf("swarm unreachable: %v, want its reason", err)
	}
	// The relay drivers refuse a server they cannot reach on Swarm; the Compose drivers built it.
	_, err = s.driftCredentials(nil, &live.DriftScanner{Swarm: live.SwarmDrift{Stack: &live.SwarmStack{}}})
	if err == nil || !strings.Contains(err.Error(), "not supported on Swarm") {
		t.Errorf("swarm read: %v, want the relay drivers' refusal of an http server", err)
	}
}
