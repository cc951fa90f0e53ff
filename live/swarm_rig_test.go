package live

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
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

// swarmRig is a real single-node swarm with the stack deployed, and the runtime under test.
type swarmRig struct {
	t         *testing.T
	dir       string
	stack     string
	stackFile string
	keyFile   string
	cli       *client.Client
	rt        *SwarmStack
	src       SwarmSources
	journal   *journal.Journal
	values    map[string]string
	during    func(reconcile.Event) // sees every step of the transaction
}

func dockerCLI(t *testing.T, dir string, args ...string) string {
	t.Helper()
	return testenv.Docker(t, dir, args...)
}

func newSwarmRig(t *testing.T) *swarmRig {
	testenv.RequireImages(t, "rekey-demo/redis:dev")
	testenv.RequireSwarm(t)
	dir := t.TempDir()
	r := &swarmRig{t: t, dir: dir, stack: "rk" + strings.ToLower(randomSuffix(t)), values: map[string]string{}}
	r.stackFile = filepath.Join(dir, "stack.yaml")
	r.keyFile = filepath.Join(dir, "secrets", "app_key")
	noErr(t, os.MkdirAll(filepath.Dir(r.keyFile), 0o700))
	noErr(t, os.WriteFile(r.stackFile, []byte(testenv.SwarmAppKeyStack(r.stack)), 0o600))
	noErr(t, os.WriteFile(r.keyFile, []byte(strings.Repeat("a", 40)), 0o600))
	r.deploy()
	t.Cleanup(func() {
		out, err := exec.Command("docker", "stack", "rm", r.stack).CombinedOutput()
		if err != nil {
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
		Secrets: []SwarmSecret{{Key: "app_key", File: r.keyFile, Mounts: map[string]string{"api": "app_key", "worker": "key.txt"}}}}
	r.src = SwarmSources{Files: files, Stack: r.rt, FP: testFP}
	for _, svc := range []string{"api", "worker"} {
		noErr(t, sw.WaitConverged(ctx, r.rt.Service(svc), 90*time.Second))
	}
	r.journal, err = journal.Open(filepath.Join(dir, "state"))
	noErr(t, err)
	t.Cleanup(func() { r.journal.Close() })
	return r
}

// deploy runs docker stack deploy of the stack file, as an operator would.
func (r *swarmRig) deploy() string {
	return dockerCLI(r.t, r.dir, "stack", "deploy", "--resolve-image", "never", "--prune", "-c", r.stackFile, r.stack)
}

// apply runs reconcile.Apply for app_key at value, through the Swarm runtime and a real journal.
func (r *swarmRig) apply(value string) []reconcile.Result {
	r.values["app_key"] = value
	d := reconcile.Desired{Revision: "test", Secrets: []reconcile.Secret{{
		Name: "app_key", Kind: reconcile.KindToken, DesiredFP: testFP(value),
		Current:   []reconcile.Location{{Path: r.keyFile}},
		Consumers: []reconcile.Consumer{{Name: "api", Action: reconcile.Restart}, {Name: "worker", Action: reconcile.Restart}},
	}}}
	ctx := context.Background()
	must(r.t, r.rt.Preflight(ctx, d))
	obs := &SwarmObserver{Observer: &Observer{Files: r.src.Files, FP: testFP, Journal: r.journal, Now: time.Now}, Stack: r.rt,
		Warn: func(s string) { r.t.Errorf("prune: %s", s) }}
	n := 0
	ex := &reconcile.Executor{
		Values: func(s string) (string, bool) { v, ok := r.values[s]; return v, ok },
		Reader: r.src, Writer: r.src, Stash: r.journal, Roller: r.rt, Health: r.rt, Verifier: &Checks{},
		Progress: func(ev reconcile.Event) {
			if r.during != nil {
				r.during(ev)
			}
		},
		Journal: r.journal, Now: time.Now, FP: testFP, NewID: func() string { n++; return "txn-" + randomSuffix(r.t) },
	}
	res, err := reconcile.Apply(ctx, d, obs, ex)
	must(r.t, err)
	return res
}

// service inspects a service of the stack.
func (r *swarmRig) service(name string) swarm.Service {
	svc, _, err := r.cli.ServiceInspectWithRaw(context.Background(), r.rt.Service(name), swarm.ServiceInspectOptions{})
	must(r.t, err)
	return svc
}

// taskIDs lists the service's tasks that should run.
func (r *swarmRig) taskIDs(name string) []string {
	ids, err := r.rt.Swarm.TaskContainers(context.Background(), r.rt.Service(name))
	must(r.t, err)
	return ids
}

// mounted reads the secret file inside every running task of a service.
func (r *swarmRig) mounted(name, target string) []string {
	var out []string
	for _, id := range r.taskIDs(name) {
		out = append(out, dockerCLI(r.t, "", "exec", id, "cat", "/run/secrets/"+target))
	}
	return out
}

func (r *swarmRig) secretExists(name string) bool {
	_, found, err := r.rt.Swarm.SecretByName(context.Background(), name)
	must(r.t, err)
	return found
}

func (r *swarmRig) pointer() string {
	name, _, err := r.rt.pointer(context.Background(), "app_key")
	must(r.t, err)
	return name
}

// testFP is an HMAC fingerprint under a fixed test key, shaped like rekey's.
func testFP(v string) string {
	m := hmac.New(sha256.New, []byte("swarm test key"))
	m.Write([]byte(v))
	return "hmac:" + hex.EncodeToString(m.Sum(nil))[:16]
}

func randomSuffix(t *testing.T) string {
	b := make([]byte, 4)
	f, err := os.Open("/dev/urandom")
	noErr(t, err)
	defer f.Close()
	_, err = f.Read(b)
	noErr(t, err)
	return hex.EncodeToString(b)
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
