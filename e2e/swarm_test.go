package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/internal/testenv"
)

// TestSwarmStackPlanApply: `rekey plan` and `rekey apply` on a rekey.yaml naming a Swarm stack (a real
// single-node swarm): the app key of a two-service stack is rotated (each service's running task mounts
// the new value, the old object is gone, the stack file names the new one), `docker stack deploy` of the
// same files afterwards replaces no task, and a value the services' healthcheck refuses rolls back
// (exit 3, the stack file and the services' specs as before, the refused object removed).
func TestSwarmStackPlanApply(t *testing.T) {
	r, dir, stack := newSwarmRig(t)
	if res := r.rekey("plan"); res.code != 0 {
		t.Fatalf("plan of the stack in sync exited %d\n%s%s", res.code, res.stdout, res.stderr)
	}

	next := strings.Repeat("b", 48)
	r.values["app-key"] = next
	r.commitValues("rotate the app key")
	if res := r.rekey("plan"); !strings.Contains(res.stdout, "rotate") {
		t.Errorf("plan does not show the rotation (exit %d)\n%s%s", res.code, res.stdout, res.stderr)
	}
	start := time.Now()
	r.mustApply()
	t.Logf("rekey apply (rotation on the swarm): %s", time.Since(start).Round(time.Millisecond))
	for svc, target := range map[string]string{"api": "app_key", "worker": "key.txt"} {
		if got := taskFile(t, stack+"_"+svc, target); got != next {
			t.Errorf("%s: the running task's /run/secrets/%s does not hold the new value", svc, target)
		}
	}
	if secretObjectExists(t, stack+"_app_key_v1") {
		t.Errorf("the old object %s_app_key_v1 still exists", stack)
	}
	stackFile := readFileT(t, filepath.Join(dir, "stack.yaml"))
	if strings.Contains(stackFile, "_app_key_v1") {
		t.Errorf("the stack file still names the old object")
	}

	// docker stack deploy of the files rekey left: no task replaced, spec unchanged.
	specs, tasks := serviceJSON(t, stack+"_api", "{{json .Spec}}"), taskIDsOf(t, stack+"_api")
	swarmCLI(t, dir, "stack", "deploy", "--resolve-image", "never", "-c", "stack.yaml", stack)
	time.Sleep(2 * time.Second)
	if got := serviceJSON(t, stack+"_api", "{{json .Spec}}"); got != specs {
		t.Errorf("stack deploy changed the spec of api")
	}
	if got := taskIDsOf(t, stack+"_api"); got != tasks {
		t.Errorf("stack deploy replaced api's tasks: %s → %s", tasks, got)
	}

	// A value the healthcheck refuses: rolled back, exit 3.
	specs = serviceJSON(t, stack+"_api", "{{json .Spec}}")
	r.values["app-key"] = strings.Repeat("c", 20)
	r.commitValues("a key too short for the app")
	if res := r.rekey("apply"); res.code != 3 {
		t.Fatalf("apply of a refused value exited %d, want 3\n%s%s", res.code, res.stdout, res.stderr)
	}
	if got := readFileT(t, filepath.Join(dir, "stack.yaml")); got != stackFile {
		t.Errorf("the stack file was not restored:\n%s", got)
	}
	if got := serviceJSON(t, stack+"_api", "{{json .Spec}}"); got != specs {
		t.Errorf("api is not back on its previous spec")
	}
	if got := taskFile(t, stack+"_api", "app_key"); got != next {
		t.Errorf("api's running task does not hold the current value after the rollback")
	}
}

// newSwarmRig deploys the two-service app-key stack on a single-node swarm and commits a desired state
// equal to it, for a rekey.yaml naming the stack.
func newSwarmRig(t *testing.T) (*rig, string, string) {
	t.Helper()
	testenv.RequireImages(t, "rekey-demo/redis:dev")
	testenv.RequireSwarm(t)
	dir := t.TempDir()
	stack := "rke" + strings.ToLower(testenv.Fingerprint(t.Name() + time.Now().String())[:6])
	writeFile(t, filepath.Join(dir, "stack.yaml"), testenv.SwarmAppKeyStack(stack))
	initial := strings.Repeat("a", 40)
	writeFile(t, filepath.Join(dir, "secrets", "app_key"), initial)
	swarmCLI(t, dir, "stack", "deploy", "--resolve-image", "never", "-c", "stack.yaml", stack)
	t.Cleanup(func() { _ = exec.Command("docker", "stack", "rm", stack).Run() })
	waitTasksRunning(t, stack+"_api", stack+"_worker")

	config := fmt.Sprintf(`version: 1
compose: {project_dir: %s, files: [stack.yaml]}
swarm: {stack: %s}
values: secrets.sops.yaml
health_timeout: 90s
secrets:
  app-key:
    type: token
    file: secrets/app_key
`, dir, stack)
	return newRigFor(t, nil, config, map[string]string{"app-key": initial}), dir, stack
}

// TestSwarmKillMidRotation kills rekey with SIGKILL after a journal record of a rotation on the swarm —
// while the sources are written, between the two services' updates, after verification — and runs apply
// again: each time both services' tasks mount the new value, exactly one version of the secret is left,
// and no transaction is open.
func TestSwarmKillMidRotation(t *testing.T) {
	r, _, stack := newSwarmRig(t)
	for i, n := range []int{3, 6, 9} {
		value := fmt.Sprintf("kill-%d-%s", n, strings.Repeat("k", 40))
		r.values["app-key"] = value
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
		for svc, target := range map[string]string{"api": "app_key", "worker": "key.txt"} {
			if got := taskFile(t, stack+"_"+svc, target); got != value {
				t.Errorf("after kill at record %d: %s's task does not mount the new value", n, svc)
			}
		}
		if got := strings.Fields(swarmCLI(t, "", "secret", "ls", "-q", "--filter", "name="+stack+"_app_key")); len(got) != 1 {
			t.Errorf("after kill at record %d: %d versions of app_key left, want 1", n, len(got))
		}
		if s := r.rekey("status"); strings.Contains(s.stdout, "open transaction") {
			t.Fatalf("after kill at record %d: %s", n, s.stdout)
		}
	}
}

func swarmCLI(t *testing.T, dir string, args ...string) string {
	t.Helper()
	return strings.TrimSpace(testenv.Docker(t, dir, args...))
}

// waitTasksRunning waits until every service has all its tasks running.
func waitTasksRunning(t *testing.T, services ...string) {
	t.Helper()
	for _, svc := range services {
		waitFor(t, 90*time.Second, svc+" running", func() bool {
			out := swarmCLI(t, "", "service", "ls", "--filter", "name="+svc, "--format", "{{.Replicas}}")
			return out == "1/1"
		})
	}
}

// taskContainer is the container of the service's one task that should run (during a start-first
// update the replaced task's container may still be stopping).
func taskContainer(t *testing.T, service string) string {
	t.Helper()
	tasks := strings.Fields(taskIDsOf(t, service))
	if len(tasks) != 1 {
		t.Fatalf("service %s has %d tasks to run, want 1", service, len(tasks))
	}
	return swarmCLI(t, "", "inspect", "--format", "{{.Status.ContainerStatus.ContainerID}}", tasks[0])
}

func taskFile(t *testing.T, service, target string) string {
	t.Helper()
	return swarmCLI(t, "", "exec", taskContainer(t, service), "cat", "/run/secrets/"+target)
}

func taskIDsOf(t *testing.T, service string) string {
	return swarmCLI(t, "", "service", "ps", "-q", "--filter", "desired-state=running", service)
}

func serviceJSON(t *testing.T, service, format string) string {
	var v any
	out := swarmCLI(t, "", "service", "inspect", "--format", format, service)
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("service inspect: %v", err)
	}
	return out
}

func secretObjectExists(t *testing.T, name string) bool {
	return exec.Command("docker", "secret", "inspect", name).Run() == nil
}

func readFileT(t *testing.T, path string) string {
	t.Helper()
	out, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
