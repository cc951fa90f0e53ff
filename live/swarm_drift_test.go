package live

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/reconcile"
)

// swarmDrift scans d on the rig's stack as `rekey drift` does on Swarm, and returns the consumers' drift.
func (r *swarmRig) swarmDrift(d reconcile.Desired, values map[string]string) []reconcile.Drift {
	sc := &DriftScanner{FP: testFP, Journal: r.journal, Values: values, NoConsumers: true,
		Swarm: SwarmDrift{Stack: r.rt, FP: testFP}}
	ds, err := sc.Scan(context.Background(), d)
	must(r.t, err)
	var out []reconcile.Drift
	for _, x := range ds {
		if x.Place == reconcile.PlaceConsumer {
			out = append(out, x)
		}
	}
	return out
}

// wantConsumerDrift checks that every consumer is in sync except the services in drifted, each of
// which has a drifted entry; it returns those entries.
func wantConsumerDrift(t *testing.T, ds []reconcile.Drift, drifted ...string) []reconcile.Drift {
	t.Helper()
	var bad []reconcile.Drift
	seen := map[string]bool{}
	for _, d := range ds {
		seen[d.Name] = true
		isDrifted := false
		for _, name := range drifted {
			isDrifted = isDrifted || d.Name == name
		}
		switch {
		case isDrifted && d.State.Drifted():
			bad = append(bad, d)
		case isDrifted && d.State == reconcile.DriftInSync && d.Container == "spec":
			t.Errorf("%s: its spec is reported in sync", d.Name)
		case !isDrifted && d.State != reconcile.DriftInSync:
			t.Errorf("%s %s: %s (%s), want in-sync", d.Name, d.Container, d.State, d.Reason)
		}
	}
	for _, s := range []string{"api", "worker"} {
		if !seen[s] {
			t.Errorf("no drift entry for consumer %s: %+v", s, ds)
		}
	}
	for _, name := range drifted {
		found := false
		for _, d := range bad {
			found = found || d.Name == name
		}
		if !found {
			t.Errorf("%s changed by hand is not reported drifted: %+v", name, ds)
		}
	}
	return bad
}

// envDrift: the converged stack is in sync; worker's spec moved by hand to another value of the token
// (docker service update --env-add) is reported drifted, naming the service and the secret, while api
// stays in sync; rolling worker from the files brings it back in sync.
func envDrift(t *testing.T, r *swarmRig, current string) {
	d := r.envDesired(current)
	values := map[string]string{"token": current}
	wantConsumerDrift(t, r.swarmDrift(d, values))

	dockerCLI(t, "", "service", "update", "--detach", "--env-add", envVar+"="+strings.Repeat("h", 40), r.rt.Service("worker"))
	noErr(t, r.rt.Swarm.WaitConverged(context.Background(), r.rt.Service("worker"), 90*time.Second))
	for _, x := range wantConsumerDrift(t, r.swarmDrift(d, values), "worker") {
		if x.Secret != "token" || x.State != reconcile.DriftStaleConsumer {
			t.Errorf("drift %+v, want secret token stale-consumer", x)
		}
		t.Logf("reported: %s %s %s %s: %s", x.Secret, x.Name, x.Container, x.State, x.Reason)
	}

	noErr(t, r.rt.Roll(context.Background(), reconcile.Consumer{Name: "worker", Action: reconcile.Recreate}))
	noErr(t, r.rt.WaitHealthy(context.Background(), "worker"))
	wantConsumerDrift(t, r.swarmDrift(d, values))
}

// fileDrift: the same for a file secret: worker moved by hand to an object rekey did not write is
// drifted; an update paused on a value the healthcheck refuses shows the spec drifted while the task
// still runs the old, good value; rolling worker from the files brings it back.
func fileDrift(t *testing.T, r *swarmRig, current string) {
	ctx := context.Background()
	d := reconcile.Desired{Revision: "test", Secrets: []reconcile.Secret{{
		Name: "app_key", Kind: reconcile.KindToken, DesiredFP: testFP(current),
		Current:   []reconcile.Location{{Path: r.keyFile}},
		Consumers: []reconcile.Consumer{{Name: "api", Action: reconcile.Restart}, {Name: "worker", Action: reconcile.Restart}},
	}}}
	values := map[string]string{"app_key": current}
	wantConsumerDrift(t, r.swarmDrift(d, values))

	for _, c := range []struct{ name, value string }{{"hand", strings.Repeat("h", 40)}, {"short", "too short"}} {
		obj, err := r.rt.Swarm.EnsureSecret(ctx, r.stack+"_"+c.name, []byte(c.value), nil)
		noErr(t, err)
		_, err = r.rt.Swarm.PointSecrets(ctx, r.rt.Service("worker"), map[string]string{"key.txt": obj.Name})
		noErr(t, err)
		err = r.rt.Swarm.WaitConverged(ctx, r.rt.Service("worker"), 90*time.Second)
		if (c.name == "short") != (err != nil) {
			t.Fatalf("%s: converged: %v", c.name, err)
		}
		for _, x := range wantConsumerDrift(t, r.swarmDrift(d, values), "worker") {
			if x.Secret != "app_key" || x.State != reconcile.DriftStaleConsumer {
				t.Errorf("%s: drift %+v, want app_key stale-consumer", c.name, x)
			}
			if c.name == "short" && x.Container != "spec" {
				t.Errorf("paused update: task %s reported drifted, want the spec only", x.Container)
			}
		}
		noErr(t, r.rt.Roll(ctx, reconcile.Consumer{Name: "worker", Action: reconcile.Restart}))
		noErr(t, r.rt.WaitHealthy(ctx, "worker"))
		noErr(t, r.rt.Swarm.RemoveSecret(ctx, obj))
	}
	wantConsumerDrift(t, r.swarmDrift(d, values))
}
