package e2e

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/internal/testenv"
)

// rekeyImage builds a FROM-scratch image holding rekey, a static docker CLI and the Compose plugin: what
// an operator runs next to the stack.
func rekeyImage(t *testing.T) string {
	t.Helper()
	ctx := t.TempDir()
	bins := map[string]string{"rekey": rekeyBin, "docker": staticBinary(t, "docker"),
		"docker-compose": staticBinary(t, "/usr/local/lib/docker/cli-plugins/docker-compose")}
	for name, src := range bins {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ctx, name), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(ctx, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(ctx, "Dockerfile"), `FROM scratch
COPY rekey /usr/local/bin/rekey
COPY docker /usr/local/bin/docker
COPY docker-compose /usr/local/lib/docker/cli-plugins/docker-compose
COPY tmp /tmp
ENV PATH=/usr/local/bin HOME=/tmp
ENTRYPOINT ["/usr/local/bin/rekey"]
`)
	tag := "rekey-e2e/rekey:test"
	cmd := exec.Command("docker", "build", "-q", "-t", tag, ctx)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })
	return tag
}

// staticBinary finds a program and checks it has no dynamic loader, so it runs in a scratch image.
func staticBinary(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: run scripts/setup.sh", name)
	}
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatalf("%s is dynamically linked; a scratch image needs a static build", path)
		}
	}
	return path
}

// TestRekeyInAContainer runs rekey itself in a container next to the stack, the way an operator deploys
// it: the Docker socket, the project dir, the repo, the state dir and the key mounted at their host
// paths (Compose resolves bind mounts to host paths, so the project dir must keep its path).
func TestRekeyInAContainer(t *testing.T) {
	r := newRig(t, "0s")
	image := rekeyImage(t)
	r.values["session-key"] = "rotated-from-inside-a-container-0123456789"
	r.values["webhook-token"] = "container-webhook-token"
	r.commitValues("rotate from a container")
	before := r.ids()
	if err := os.MkdirAll(r.stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	args := []string{"run", "--rm", "--network", "host", "-v", "/var/run/docker.sock:/var/run/docker.sock"}
	for _, dir := range []string{r.stack.Dir, r.repo, r.stateDir, filepath.Dir(r.keyFile)} {
		args = append(args, "-v", dir+":"+dir)
	}
	args = append(args, image, "apply", "--repo", r.repo, "--state-dir", r.stateDir, "--age-key-file", r.keyFile)
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("rekey in a container: %v\n%s", err, out)
	}
	r.checkNoLeak(result{stdout: string(out)})
	if !strings.Contains(string(out), "session-key      rotated") || !strings.Contains(string(out), "webhook-token    rotated") {
		t.Fatalf("output:\n%s", out)
	}
	app, worker := r.fingerprints()
	want := testenv.Fingerprint(r.values["session-key"])
	if app["session_key"] != want || worker["session_key"] != want ||
		app["webhook_token"] != testenv.Fingerprint("container-webhook-token") {
		t.Fatalf("containers after a containerized rotation: app=%v worker=%v", app, worker)
	}
	if after := r.ids(); after["redis"] != before["redis"] {
		t.Error("redis was recreated")
	}
	assertUpRecreatesNothing(t, r)
}
