package live

import (
	"context"

	"github.com/docker/docker/api/types/swarm"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/reconcile"
	"github.com/rekeyhq/rekey/swarmio"
)

// TestSwarmRotation runs on a real single-node swarm: an app key mounted by two services is rotated
// through the transaction (new object, each service moved start-first in order, old object removed
// after the end); a `docker stack deploy` of the same files afterwards changes no service; a value the
// services' healthcheck refuses rolls back (services on their previous spec, the new object removed).
func TestSwarmRotation(t *testing.T) {
	r := newSwarmRig(t)
	v1 := r.stack + "_app_key_v1"
	before := map[string]time.Time{}
	for _, s := range []string{"api", "worker"} {
		before[s] = r.service(s).UpdatedAt
	}

	next := strings.Repeat("b", 48)
	r.during = func(ev reconcile.Event) {
		if ev.Step != "" && ev.Status == "ok" && !r.secretExists(v1) {
			t.Errorf("old object %s gone at step %s, before the transaction ended", v1, ev.Step)
		}
	}
	start := time.Now()
	res := r.apply(next)
	t.Logf("rotation: %s (%d results)", time.Since(start).Round(time.Millisecond), len(res))
	r.during = nil
	if len(res) == 0 || res[0].Outcome != reconcile.OutcomeRotated {
		t.Fatalf("results %+v, want rotated", res)
	}
	newName := ObjectName(r.stack, "app_key", testFP(next))
	if got := r.pointer(); got != newName {
		t.Fatalf("stack file names %s, want %s", got, newName)
	}
	for svc, target := range map[string]string{"api": "app_key", "worker": "key.txt"} {
		got := r.mounted(svc, target)
		if len(got) != 1 || got[0] != next {
			t.Errorf("%s: /run/secrets/%s in the running tasks does not hold the new value (%d tasks)", svc, target, len(got))
		}
		if r.service(svc).UpdatedAt.Equal(before[svc]) {
			t.Errorf("%s was not updated", svc)
		}
	}
	if r.secretExists(v1) {
		t.Errorf("old object %s still exists after the rotation ended", v1)
	}
	if !r.secretExists(newName) {
		t.Errorf("new object %s missing", newName)
	}

	t.Run("stack deploy afterwards changes nothing", func(t *testing.T) { noOpDeploy(t, r) })
	t.Run("rollback on a failing healthcheck", func(t *testing.T) { rollbackOnUnhealthy(t, r, next, newName) })
	t.Run("preflight refuses a stack not deployed from its files", func(t *testing.T) { refuseUndeployed(t, r) })
	t.Run("drift", func(t *testing.T) { fileDrift(t, r, next) })
}

// refuseUndeployed: when the stack file names an object the services do not use and rekey does not
// know (files edited, not deployed), the preflight refuses before anything changes, naming the service.
func refuseUndeployed(t *testing.T, r *swarmRig) {
	ctx := context.Background()
	foreign := r.stack + "_app_key_by_hand"
	obj, err := r.rt.Swarm.EnsureSecret(ctx, foreign, []byte(strings.Repeat("h", 40)), nil)
	noErr(t, err)
	defer func() { noErr(t, r.rt.Swarm.RemoveSecret(ctx, obj)) }()
	mounted := r.service("api").Spec.TaskTemplate.ContainerSpec.Secrets[0].SecretName
	data, _, err := r.src.ReadFile(ctx, r.stackFile)
	noErr(t, err)
	edited, err := swarmio.SetSecretName(data, "app_key", foreign)
	noErr(t, err)
	noErr(t, r.src.Files.WriteFile(ctx, r.stackFile, edited))
	defer func() { noErr(t, r.src.Files.WriteFile(ctx, r.stackFile, data)) }()
	d := reconcile.Desired{Secrets: []reconcile.Secret{{Name: "app_key", Current: []reconcile.Location{{Path: r.keyFile}},
		Consumers: []reconcile.Consumer{{Name: "api"}, {Name: "worker"}}}}}
	err = r.rt.Preflight(ctx, d)
	if err == nil || !strings.Contains(err.Error(), "deploy the stack from these files first") || !strings.Contains(err.Error(), mounted) {
		t.Errorf("preflight: %v, want a refusal naming %s", err, mounted)
	}
	env := d
	env.Secrets = []reconcile.Secret{{Name: "app_key", Current: []reconcile.Location{{Path: r.keyFile, Key: "APP_KEY"}}}}
	if err := r.rt.Preflight(ctx, env); err == nil || !strings.Contains(err.Error(), "is not an env_file: of the stack's services") {
		t.Errorf("preflight of an env location: %v", err)
	}
	derived := d
	// A derived form is rotated on Swarm (live/swarm_forms.go) when it is the file of a mounted secret;
	// one anywhere else is refused like a plain value there.
	derived.Secrets = []reconcile.Secret{{Name: "app_key", Current: []reconcile.Location{{Path: r.keyFile + ".url", Form: "app_key#0"}}}}
	if err := r.rt.Preflight(ctx, derived); err == nil || !strings.Contains(err.Error(), "is not the file: of a secret the stack's services mount") {
		t.Errorf("preflight of a derived location outside the stack's secrets: %v", err)
	}
}

// noOpDeploy: `docker stack deploy` of the files rekey left finds every service as rekey left it.
func noOpDeploy(t *testing.T, r *swarmRig) {
	names := []string{"api", "worker"}
	svcs, tasks := map[string]swarm.Service{}, map[string][]string{}
	for _, s := range names {
		svcs[s], tasks[s] = r.service(s), r.taskIDs(s)
	}
	r.deploy()
	time.Sleep(2 * time.Second) // an update would have started by now
	for _, s := range names {
		svc, after := svcs[s], r.service(s)
		if !reflect.DeepEqual(after.Spec, svc.Spec) {
			t.Errorf("%s: stack deploy changed the spec:\nbefore %+v\nafter  %+v", s, svc.Spec.TaskTemplate.ContainerSpec, after.Spec.TaskTemplate.ContainerSpec)
		}
		// Every service update call, even one that changes nothing, bumps the version and copies the spec
		// into PreviousSpec (Docker does so for a second `stack deploy` without rekey too): the previous
		// spec must be the very spec rekey left, and the tasks the same.
		if after.PreviousSpec == nil || !reflect.DeepEqual(*after.PreviousSpec, svc.Spec) {
			t.Errorf("%s: the spec stack deploy replaced is not the one rekey left", s)
		}
		if got := r.taskIDs(s); !slices.Equal(got, tasks[s]) {
			t.Errorf("%s: stack deploy replaced the tasks: %v → %v", s, tasks[s], got)
		}
		t.Logf("%s: version %d → %d after stack deploy (spec and tasks unchanged)", s, svc.Version.Index, after.Version.Index)
	}
}

// rollbackOnUnhealthy: a value the first service's healthcheck refuses fails its start-first update;
// the transaction puts that service back on its previous spec, never touches the second, and the
// object it created is removed.
func rollbackOnUnhealthy(t *testing.T, r *swarmRig, current, currentName string) {
	specs := map[string]any{}
	for _, s := range []string{"api", "worker"} {
		specs[s] = r.service(s).Spec
	}
	short := strings.Repeat("c", 20) // under the healthcheck's 32 bytes
	res := r.apply(short)
	if len(res) == 0 || res[0].Outcome != reconcile.OutcomeRolledBack {
		t.Fatalf("results %+v, want rolled-back", res)
	}
	t.Logf("rolled back: %s", res[0].Reason)
	badName := ObjectName(r.stack, "app_key", testFP(short))
	if r.secretExists(badName) {
		t.Errorf("the rolled-back object %s still exists", badName)
	}
	if !r.secretExists(currentName) {
		t.Errorf("the current object %s was removed", currentName)
	}
	if got := r.pointer(); got != currentName {
		t.Errorf("stack file names %s after the rollback, want %s", got, currentName)
	}
	data, _, err := r.src.ReadFile(context.Background(), r.keyFile)
	if err != nil || string(data) != current {
		t.Errorf("secret file not restored (%v)", err)
	}
	for _, s := range []string{"api", "worker"} {
		if got := r.service(s).Spec; !reflect.DeepEqual(got, specs[s]) {
			t.Errorf("%s is not back on its previous spec: %+v", s, got.TaskTemplate.ContainerSpec.Secrets)
		}
		if err := r.rt.Swarm.WaitConverged(context.Background(), r.rt.Service(s), time.Minute); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	if got := r.mounted("api", "app_key"); len(got) != 1 || got[0] != current {
		t.Errorf("api's running task does not hold the current value after the rollback")
	}
}
