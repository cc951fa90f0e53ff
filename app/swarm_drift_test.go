package app

import (
	"strings"
	"testing"

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
