package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/internal/testenv"
)

// TestSwarmEnvStack drives the CLI on a stack whose two services read a token from an env_file: plan,
// apply (each running task's environment holds the new value, the env file rewritten in place), a
// `docker stack deploy` afterwards replaces no task and changes no spec, `rekey drift` reports the
// converged stack in sync and a service moved by hand to another value as drift (exit 6) naming the
// service and the secret, and a kill -9 after journal records 3, 6 and 9 of a rotation is resumed by the
// next apply.
func TestSwarmEnvStack(t *testing.T) {
	r, dir, stack := newSwarmEnvRig(t)
	if res := r.rekey("plan"); res.code != 0 {
		t.Fatalf("plan of the stack in sync exited %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	next := strings.Repeat("b", 48)
	r.values["token"] = next
	r.commitValues("rotate the token")
	start := time.Now()
	r.mustApply()
	t.Logf("rekey apply (env rotation on the swarm): %s", time.Since(start).Round(time.Millisecond))
	for _, svc := range []string{"api", "worker"} {
		if got := taskEnv(t, stack+"_"+svc); got != next {
			t.Errorf("%s: the running task's SESSION_TOKEN is not the new value", svc)
		}
	}
	if got := readFileT(t, filepath.Join(dir, "app.env")); got != "LOG_LEVEL=info\nSESSION_TOKEN="+next+"\n" {
		t.Errorf("app.env not rewritten in place")
	}
	for _, svc := range []string{"api", "worker"} {
		spec, tasks := serviceJSON(t, stack+"_"+svc, "{{json .Spec}}"), taskIDsOf(t, stack+"_"+svc)
		swarmCLI(t, dir, "stack", "deploy", "--resolve-image", "never", "-c", "stack.yaml", stack)
		time.Sleep(2 * time.Second)
		if got := serviceJSON(t, stack+"_"+svc, "{{json .Spec}}"); got != spec {
			t.Errorf("stack deploy changed the spec of %s", svc)
		}
		if got := taskIDsOf(t, stack+"_"+svc); got != tasks {
			t.Errorf("stack deploy replaced %s's tasks: %s → %s", svc, tasks, got)
		}
	}

	t.Run("drift", func(t *testing.T) { swarmEnvDrift(t, r, dir, stack) })
	t.Run("kill -9 mid-rotation", func(t *testing.T) { swarmEnvKill(t, r, stack) })
}

// swarmEnvDrift: in sync, then worker updated by hand to another value: exit 6, the worker's task
// stale, api in sync; `rekey apply --heal` re-rolls worker alone and puts it back in sync.
func swarmEnvDrift(t *testing.T, r *rig, dir, stack string) {
	code, places := r.drift()
	if code != 0 {
		t.Fatalf("drift of the converged stack exited %d: %+v", code, places)
	}
	consumers := 0
	for _, p := range places {
		if p.Place == "consumer" {
			consumers++
		}
	}
	if consumers < 2 {
		t.Errorf("drift reports %d consumer places, want api's and worker's tasks: %+v", consumers, places)
	}
	swarmCLI(t, "", "service", "update", "--detach", "--env-add", "SESSION_TOKEN="+handToken, stack+"_worker")
	waitUpdated(t, stack+"_worker")
	if got := taskEnv(t, stack+"_worker"); got != handToken {
		t.Fatalf("the hand update did not reach worker's task")
	}
	code, places = r.drift()
	if code != 6 {
		t.Errorf("drift after a hand update exited %d, want 6: %+v", code, places)
	}
	found := false
	for _, p := range places {
		switch {
		case p.Place != "consumer":
		case p.Name == "worker" && p.State == "stale-consumer" && p.Secret == "token":
			found = true
		case p.Name == "api" && p.State != "in-sync":
			t.Errorf("api: %+v, want in-sync", p)
		}
	}
	if !found {
		t.Errorf("worker's hand update is not reported: %+v", places)
	}
	// `rekey apply --heal` re-rolls worker from the files: in sync again, api untouched.
	apiTasks := taskIDsOf(t, stack+"_api")
	if res := r.rekey("apply", "--heal"); res.code != 0 {
		t.Fatalf("apply --heal exited %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	waitUpdated(t, stack+"_worker")
	if got := taskEnv(t, stack+"_worker"); got != r.values["token"] {
		t.Errorf("worker's task does not run the value of the files after apply --heal")
	}
	if got := taskIDsOf(t, stack+"_api"); got != apiTasks {
		t.Errorf("heal replaced api's task, which was in sync")
	}
	if code, places := r.drift(); code != 0 {
		t.Errorf("drift after deploying the files exited %d: %+v", code, places)
	}
}

// swarmEnvKill: kill -9 after journal records 3, 6 and 9, then apply: both tasks run the new value and
// no transaction is open.
func swarmEnvKill(t *testing.T, r *rig, stack string) {
	for i, n := range []int{3, 6, 9} {
		value := fmt.Sprintf("kill%d%s", n, strings.Repeat("k", 40))
		r.values["token"] = value
		r.commitValues(fmt.Sprintf("rotation %d", i))
		res := r.rekeyOpts([]string{"--debug-kill-after-records", fmt.Sprint(n)}, "apply")
		switch {
		case !res.killed && res.code != 0:
			t.Fatalf("run to be killed after record %d exited %d:\n%s\n%s", n, res.code, res.stdout, res.stderr)
		case !res.killed:
			t.Errorf("the rotation wrote fewer than %d journal records: no kill point there", n)
		}
		if res = r.rekey("apply"); res.code != 0 {
			t.Fatalf("after kill at record %d, apply exited %d:\n%s\n%s", n, res.code, res.stdout, res.stderr)
		}
		for _, svc := range []string{"api", "worker"} {
			if got := taskEnv(t, stack+"_"+svc); got != value {
				t.Errorf("after kill at record %d: %s's task does not run the new value", n, svc)
			}
		}
		if s := r.rekey("status"); strings.Contains(s.stdout, "open transaction") {
			t.Fatalf("after kill at record %d: %s", n, s.stdout)
		}
	}
}

// newSwarmEnvRig deploys testenv.SwarmEnvStack with its token in app.env and commits a desired state
// equal to it.
func newSwarmEnvRig(t *testing.T) (*rig, string, string) {
	t.Helper()
	testenv.RequireImages(t, "rekey-demo/redis:dev")
	testenv.RequireSwarm(t)
	dir := t.TempDir()
	stack := "rkv" + strings.ToLower(testenv.Fingerprint(t.Name() + time.Now().String())[:6])
	writeFile(t, filepath.Join(dir, "stack.yaml"), testenv.SwarmEnvStack())
	initial := strings.Repeat("a", 40)
	writeFile(t, filepath.Join(dir, "app.env"), "LOG_LEVEL=info\nSESSION_TOKEN="+initial+"\n")
	swarmCLI(t, dir, "stack", "deploy", "--resolve-image", "never", "-c", "stack.yaml", stack)
	t.Cleanup(func() { _ = exec.Command("docker", "stack", "rm", stack).Run() })
	waitTasksRunning(t, stack+"_api", stack+"_worker")
	config := fmt.Sprintf(`version: 1
compose: {project_dir: %s, files: [stack.yaml]}
swarm: {stack: %s}
values: secrets.sops.yaml
health_timeout: 90s
secrets:
  token:
    type: token
    env: {value: SESSION_TOKEN}
`, dir, stack)
	return newRigFor(t, nil, config, map[string]string{"token": initial}), dir, stack
}

// taskEnv reads SESSION_TOKEN inside the service's one running task.
func taskEnv(t *testing.T, service string) string {
	t.Helper()
	return swarmCLI(t, "", "exec", taskContainer(t, service), "printenv", "SESSION_TOKEN")
}

// waitUpdated waits until the service's update completed and its one task runs.
func waitUpdated(t *testing.T, service string) {
	t.Helper()
	waitFor(t, 90*time.Second, service+" updated", func() bool {
		return swarmCLI(t, "", "service", "inspect", "--format", "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}", service) == "completed" &&
			len(strings.Fields(taskIDsOf(t, service))) == 1
	})
	waitTasksRunning(t, service)
}
