package live

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"

	"github.com/rekeyhq/rekey/internal/testenv"
	"github.com/rekeyhq/rekey/journal"
	"github.com/rekeyhq/rekey/reconcile"
	"github.com/rekeyhq/rekey/swarmio"
)

const envVar = "SESSION_TOKEN"

// newSwarmEnvRig deploys testenv.SwarmEnvStack on a real single-node swarm, its token in ./app.env.
func newSwarmEnvRig(t *testing.T) *swarmRig {
	testenv.RequireImages(t, "rekey-demo/redis:dev")
	testenv.RequireSwarm(t)
	dir := t.TempDir()
	r := &swarmRig{t: t, dir: dir, stack: "rke" + strings.ToLower(randomSuffix(t)), values: map[string]string{}}
	r.stackFile = filepath.Join(dir, "stack.yaml")
	r.keyFile = filepath.Join(dir, "app.env")
	noErr(t, os.WriteFile(r.stackFile, []byte(testenv.SwarmEnvStack()), 0o600))
	noErr(t, os.WriteFile(r.keyFile, []byte("# the app's settings\nLOG_LEVEL=info\n"+envVar+"="+strings.Repeat("a", 40)+"\n"), 0o600))
	r.deploy()
	t.Cleanup(func() {
		if out, err := exec.Command("docker", "stack", "rm", r.stack).CombinedOutput(); err != nil {
			t.Logf("docker stack rm: %v: %s", err, out)
		}
	})
	ctx := context.Background()
	sw, err := swarmio.New(ctx, "", nil)
	noErr(t, err)
	t.Cleanup(func() { sw.Close() })
	r.cli, err = client.NewClientWithOpts(client.WithAPIVersionNegotiation())
	noErr(t, err)
	t.Cleanup(func() { r.cli.Close() })
	files := Files{Root: dir}
	r.rt = &SwarmStack{Swarm: sw, Stack: r.stack, StackFiles: []string{r.stackFile}, Files: files, HealthTimeout: 90 * time.Second,
		Env: []SwarmEnv{{Var: envVar, Files: map[string]string{"api": r.keyFile, "worker": r.keyFile}}}}
	r.src = SwarmSources{Files: files, Stack: r.rt, FP: testFP}
	for _, svc := range []string{"api", "worker"} {
		noErr(t, sw.WaitConverged(ctx, r.rt.Service(svc), 90*time.Second))
	}
	r.journal, err = journal.Open(filepath.Join(dir, "state"))
	noErr(t, err)
	t.Cleanup(func() { r.journal.Close() })
	return r
}

// envDesired is the desired state of the token at value, consumed through the env_file.
func (r *swarmRig) envDesired(value string) reconcile.Desired {
	via := []string{"env_file:" + r.keyFile}
	return reconcile.Desired{Revision: "test", Secrets: []reconcile.Secret{{
		Name: "token", Kind: reconcile.KindToken, DesiredFP: testFP(value),
		Current: []reconcile.Location{{Path: r.keyFile, Key: envVar}},
		Consumers: []reconcile.Consumer{{Name: "api", Action: reconcile.Recreate, Via: via},
			{Name: "worker", Action: reconcile.Recreate, Via: via}},
	}}}
}

// applyEnv runs reconcile.Apply for the token at value through the Swarm runtime and a real journal.
func (r *swarmRig) applyEnv(value string) []reconcile.Result {
	r.values["token"] = value
	d := r.envDesired(value)
	ctx := context.Background()
	must(r.t, r.rt.Preflight(ctx, d))
	obs := &SwarmObserver{Observer: &Observer{Files: r.src.Files, FP: testFP, Journal: r.journal, Now: time.Now}, Stack: r.rt,
		Warn: func(s string) { r.t.Errorf("prune: %s", s) }}
	ex := &reconcile.Executor{
		Values: func(s string) (string, bool) { v, ok := r.values[s]; return v, ok },
		Reader: r.src, Writer: r.src, Stash: r.journal, Roller: r.rt, Health: r.rt, Verifier: &Checks{},
		Journal: r.journal, Now: time.Now, FP: testFP, NewID: func() string { return "txn-" + randomSuffix(r.t) },
	}
	res, err := reconcile.Apply(ctx, d, obs, ex)
	must(r.t, err)
	return res
}

// taskEnv reads the variable inside every running task of a service.
func (r *swarmRig) taskEnv(name string) []string {
	var out []string
	for _, id := range r.taskIDs(name) {
		out = append(out, strings.TrimSpace(dockerCLI(r.t, "", "exec", id, "printenv", envVar)))
	}
	return out
}

// TestSwarmEnvRotation runs on a real single-node swarm: a token two services read from an env_file is
// rotated (the file rewritten in place, each service's spec Env moved start-first in order, the running
// tasks' environment holds the new value); `docker stack deploy` of the same files afterwards changes no
// service; a value the healthcheck refuses rolls back to exactly the previous specs.
func TestSwarmEnvRotation(t *testing.T) {
	r := newSwarmEnvRig(t)
	before := map[string]swarm.Service{}
	for _, s := range []string{"api", "worker"} {
		before[s] = r.service(s)
	}
	next := strings.Repeat("b", 48)
	start := time.Now()
	res := r.applyEnv(next)
	t.Logf("env rotation: %s", time.Since(start).Round(time.Millisecond))
	if len(res) == 0 || res[0].Outcome != reconcile.OutcomeRotated {
		t.Fatalf("results %+v, want rotated", res)
	}
	for _, s := range []string{"api", "worker"} {
		if got := r.taskEnv(s); len(got) != 1 || got[0] != next {
			t.Errorf("%s: the running task's %s is not the new value (%d tasks)", s, envVar, len(got))
		}
		after := r.service(s)
		want := slicesReplace(before[s].Spec.TaskTemplate.ContainerSpec.Env, envVar+"="+strings.Repeat("a", 40), envVar+"="+next)
		if got := after.Spec.TaskTemplate.ContainerSpec.Env; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Env %d entries, not the previous with the token replaced in place", s, len(got))
		}
	}
	data, _, err := r.src.ReadFile(context.Background(), r.keyFile)
	noErr(t, err)
	if want := "# the app's settings\nLOG_LEVEL=info\n" + envVar + "=" + next + "\n"; string(data) != want {
		t.Errorf("env file not rewritten in place")
	}

	t.Run("stack deploy afterwards changes nothing", func(t *testing.T) { noOpDeploy(t, r) })
	t.Run("rollback on a failing healthcheck", func(t *testing.T) { envRollback(t, r, next) })
	t.Run("drift", func(t *testing.T) { envDrift(t, r, next) })
}

// envRollback: a token the first service's healthcheck refuses fails its start-first update; the
// transaction puts it back on exactly its previous spec, never touches the second, restores the file.
func envRollback(t *testing.T, r *swarmRig, current string) {
	specs := map[string]swarm.ServiceSpec{}
	for _, s := range []string{"api", "worker"} {
		specs[s] = r.service(s).Spec
	}
	fileBefore, _, err := r.src.ReadFile(context.Background(), r.keyFile)
	noErr(t, err)
	res := r.applyEnv(strings.Repeat("c", 20)) // under the healthcheck's 32 bytes
	if len(res) == 0 || res[0].Outcome != reconcile.OutcomeRolledBack {
		t.Fatalf("results %+v, want rolled-back", res)
	}
	t.Logf("rolled back: %s", res[0].Reason)
	if data, _, err := r.src.ReadFile(context.Background(), r.keyFile); err != nil || string(data) != string(fileBefore) {
		t.Errorf("env file not restored byte for byte (%v)", err)
	}
	for _, s := range []string{"api", "worker"} {
		if got := r.service(s).Spec; !reflect.DeepEqual(got, specs[s]) {
			t.Errorf("%s is not back on exactly its previous spec", s)
		}
		if err := r.rt.Swarm.WaitConverged(context.Background(), r.rt.Service(s), time.Minute); err != nil {
			t.Errorf("%s: %v", s, err)
		}
		if got := r.taskEnv(s); len(got) != 1 || got[0] != current {
			t.Errorf("%s's running task does not hold the current value after the rollback", s)
		}
	}
}

func slicesReplace(in []string, old, new string) []string {
	out := make([]string, len(in))
	for i, v := range in {
		if v == old {
			v = new
		}
		out[i] = v
	}
	return out
}
