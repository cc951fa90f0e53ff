package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/rekeyhq/rekey/internal/testenv"
	"github.com/rekeyhq/rekey/sopsio"
)

// b7StackFile is B7's stack: app (the demo app's web mode, which reads its webhook token from a file and
// reports the token's fingerprint on /fingerprint) runs 2 replicas; admin runs 1 and mounts the same secret
// at another target. Both update start-first, one task at a time, health-gated by Swarm (healthcheck every
// second). Clients reach app through proxy, the reference Caddy of docs/proxies.md (upstream app:8080,
// resolved through Swarm's DNS at each new connection: app's endpoint mode is dnsrr, so the answer lists
// its running tasks), whose port is published in host mode. Not through the routing mesh: on this machine
// Swarm's ingress and VIP load balancing (IPVS) do not work (docs/benchmarks.md, B7), so no service here
// uses a VIP.
const b7StackFile = `services:
  app:
    image: rekey-demo/app:dev
    command: [web]
    environment:
      SESSION_SECRET: b7-session-key-0123456789abcdef
      WEBHOOK_TOKEN_FILE: /run/secrets/webhook_token
    secrets:
      - source: webhook_token
        target: webhook_token
    stop_grace_period: 5s
    healthcheck:
      test: ["CMD", "/demoapp", "probe", "http://127.0.0.1:8080/healthz"]
      interval: 1s
      timeout: 2s
      retries: 3
    deploy:
      replicas: 2
      endpoint_mode: dnsrr
      update_config: {parallelism: 1, delay: 0s, order: start-first, failure_action: pause, monitor: 2s}
  admin:
    image: rekey-demo/app:dev
    command: [web]
    depends_on: [app]
    environment:
      SESSION_SECRET: b7-session-key-0123456789abcdef
      WEBHOOK_TOKEN_FILE: /run/secrets/token.txt
    secrets:
      - source: webhook_token
        target: token.txt
    stop_grace_period: 5s
    healthcheck:
      test: ["CMD", "/demoapp", "probe", "http://127.0.0.1:8080/healthz"]
      interval: 1s
      timeout: 2s
      retries: 3
    deploy:
      replicas: 1
      endpoint_mode: dnsrr
      update_config: {parallelism: 1, delay: 0s, order: start-first, failure_action: pause, monitor: 2s}
  proxy:
    image: rekey-demo/caddy:dev
    environment:
      UPSTREAM: app:8080
    ports:
      - {target: 80, published: PORT, mode: host}
    deploy:
      endpoint_mode: dnsrr
secrets:
  webhook_token:
    name: STACK_webhook_token_v1
    file: ./secrets/webhook_token
`

// b7Targets are the services of the stack and where each mounts the secret.
var b7Targets = map[string]string{"app": "webhook_token", "admin": "token.txt"}

// swarmStack is one deployed copy of B7's stack: its directory (stack.yaml, secrets/) and the name of
// the object that holds the current value.
type swarmStack struct {
	dir, name string
	port      int
	current   string // the secret object the services mount now
	value     string
}

// joinSwarm makes the host engine a single-node swarm manager advertised on 127.0.0.1 (as
// internal/testenv.RequireSwarm does for the tests, holding the same engine lock exclusively); leave undoes it. An
// engine already in a swarm is used as it is and left in it.
func joinSwarm() (leave func(), err error) {
	release, err := testenv.HoldEngineExclusive()
	if err != nil {
		return nil, err
	}
	state, err := run("", "docker", "info", "--format", "{{.Swarm.LocalNodeState}}")
	if err != nil {
		release()
		return nil, err
	}
	if strings.TrimSpace(state) == "active" {
		return release, nil
	}
	if _, err := run("", "docker", "swarm", "init", "--advertise-addr", "127.0.0.1"); err != nil {
		release()
		return nil, err
	}
	return func() {
		if out, err := run("", "docker", "swarm", "leave", "--force"); err != nil {
			fmt.Fprintf(os.Stderr, "bench: docker swarm leave --force: %v\n%s", err, out)
		}
		release()
	}, nil
}

// deploySwarmStack writes B7's stack into a new directory under base and deploys it, waiting until
// every task runs.
func deploySwarmStack(base, name string) (*swarmStack, error) {
	s := &swarmStack{dir: filepath.Join(base, name), name: name, port: freePort(),
		current: name + "_webhook_token_v1", value: "b7-initial-" + randHex(16)}
	body := strings.ReplaceAll(b7StackFile, "STACK", name)
	body = strings.Replace(body, "published: PORT", fmt.Sprintf("published: %d", s.port), 1)
	if err := writeFile(filepath.Join(s.dir, "stack.yaml"), body, 0o644); err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(s.dir, "secrets", "webhook_token"), s.value, 0o600); err != nil {
		return nil, err
	}
	if _, err := run(s.dir, "docker", "stack", "deploy", "--resolve-image", "never", "-c", "stack.yaml", name); err != nil {
		return s, err
	}
	return s, s.waitValue(s.value, 2*time.Minute)
}

func (s *swarmStack) remove() {
	run("", "docker", "stack", "rm", s.name)
	// The stack's secret objects go with it once no task uses them; the next stack has other names.
}

// taskValues reads the webhook token's fingerprint inside every running task of both services (the
// demo app's /fingerprint, asked by the app itself in its container: admin publishes no port).
func (s *swarmStack) taskValues() (map[string][]string, error) {
	out := map[string][]string{}
	for svc := range b7Targets {
		ids, err := run("", "docker", "service", "ps", "-q", "--filter", "desired-state=running", s.name+"_"+svc)
		if err != nil {
			return nil, err
		}
		for _, task := range strings.Fields(ids) {
			ctr, err := run("", "docker", "inspect", "--format", "{{.Status.ContainerStatus.ContainerID}}", task)
			if err != nil {
				return nil, err
			}
			body, err := run("", "docker", "exec", strings.TrimSpace(ctr), "/demoapp", "probe", "http://127.0.0.1:8080/fingerprint")
			if err != nil {
				return nil, err
			}
			var fps map[string]string
			if err := json.Unmarshal([]byte(body), &fps); err != nil {
				return nil, fmt.Errorf("%s: %v", svc, err)
			}
			out[svc] = append(out[svc], fps["webhook_token"])
		}
	}
	return out, nil
}

// waitValue waits until every task of both services (2 + 1) runs value.
func (s *swarmStack) waitValue(value string, within time.Duration) error {
	want := fp(value)
	deadline := time.Now().Add(within)
	var last map[string][]string
	for {
		got, err := s.taskValues()
		if err == nil && len(got["app"]) == 2 && len(got["admin"]) == 1 &&
			got["app"][0] == want && got["app"][1] == want && got["admin"][0] == want {
			return nil
		}
		last = got
		if time.Now().After(deadline) {
			return fmt.Errorf("stack %s: the tasks do not all run %s after %s (they run %v, last error %v)", s.name, want, within, last, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// objectExists tells whether a secret object of that name exists.
func objectExists(name string) bool {
	return exec.Command("docker", "secret", "inspect", name).Run() == nil
}

// b7Repo is the desired-state repository of the stack rekey rotates, with its age key.
type b7Repo struct {
	dir, key, state string
	id              *age.X25519Identity
}

// newB7Repo commits a rekey.yaml naming the stack and its current value, and returns rekey's flags.
func newB7Repo(base string, s *swarmStack) (*b7Repo, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, err
	}
	r := &b7Repo{dir: filepath.Join(base, "repo"), key: filepath.Join(base, "age-key.txt"),
		state: filepath.Join(base, "state"), id: id}
	config := fmt.Sprintf(`version: 1
compose: {project_dir: %s, files: [stack.yaml]}
swarm: {stack: %s}
values: secrets.sops.yaml
health_timeout: 90s
secrets:
  webhook-token:
    type: token
    file: secrets/webhook_token
`, s.dir, s.name)
	if err := writeFile(filepath.Join(r.dir, "rekey.yaml"), config, 0o644); err != nil {
		return nil, err
	}
	if err := writeFile(r.key, "# bench only\n"+id.String()+"\n", 0o600); err != nil {
		return nil, err
	}
	if _, err := r.git("init", "-q", "-b", "main"); err != nil {
		return nil, err
	}
	return r, r.commit(s.value)
}

func (r *b7Repo) flags() []string {
	return []string{"--repo", r.dir, "--state-dir", r.state, "--age-key-file", r.key}
}

// commit encrypts value as the new desired value and commits it.
func (r *b7Repo) commit(value string) error {
	enc, err := sopsio.EncryptValues(map[string]string{"webhook-token": value}, sopsio.FormatYAML,
		[]string{r.id.Recipient().String()})
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(r.dir, "secrets.sops.yaml"), string(enc), 0o644); err != nil {
		return err
	}
	if _, err := r.git("add", "-A"); err != nil {
		return err
	}
	_, err = r.git("commit", "-qm", "webhook token "+fp(value))
	return err
}

func (r *b7Repo) git(args ...string) (string, error) {
	return run(r.dir, "git", append([]string{"-c", "user.name=bench", "-c", "user.email=bench@example.invalid"}, args...)...)
}

// currentObject reads the object name the stack file names now (rekey moves it with each version).
func (s *swarmStack) currentObject() (string, error) {
	data, err := os.ReadFile(filepath.Join(s.dir, "stack.yaml"))
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if name, ok := strings.CutPrefix(strings.TrimSpace(line), "name: "); ok {
			return strings.TrimSpace(name), nil
		}
	}
	return "", errors.New("the stack file names no secret object")
}
