package testenv

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// SwarmNodeImage is the Docker-in-Docker node image scripts/build-images.sh builds (swarmnode).
const SwarmNodeImage = "rekey-demo/swarmnode:dev"

// nodeCaps are the capabilities of a node: all but SYS_RESOURCE, which this machine's bounding set
// lacks, so --privileged (and --cap-add ALL) fail here (machine-facts.md).
var nodeCaps = []string{"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
	"SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
	"SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_TIME",
	"SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
	"WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ"}

// SwarmNode is one engine of a test swarm: a container of the host engine running dockerd.
type SwarmNode struct {
	Container string // the node's container on the host engine
	Hostname  string // node1, node2, …: what placement constraints name (node.hostname == node2)
	ID        string // its Swarm node ID
	IP        string // its address on the nodes' bridge network
}

// SwarmNodes is a swarm of Docker-in-Docker nodes: node 1 is the manager, the others workers.
type SwarmNodes struct {
	// Host is the manager's Engine API, published on the host's loopback: DOCKER_HOST for rekey and the
	// docker CLI (tcp://127.0.0.1:PORT).
	Host    string
	Nodes   []SwarmNode
	network string
}

// RequireSwarmNodes starts a swarm of n Docker-in-Docker nodes on a bridge network of their own —
// swarm init on node 1, join on the others — and removes it all when the test ends, failed or not. The
// host engine's own swarm state is not touched: every swarm command runs inside a node. Without the node
// image the test skips (fails in CI). Load the images the test needs with Load.
func RequireSwarmNodes(tb testing.TB, n int) *SwarmNodes {
	tb.Helper()
	RequireImages(tb, SwarmNodeImage)
	id := randomHex(4)
	s := &SwarmNodes{network: "rekey-swarm-" + id}
	Docker(tb, "", "network", "create", "--driver", "bridge", s.network)
	tb.Cleanup(func() { s.remove(tb) })
	for i := 1; i <= n; i++ {
		s.startNode(tb, fmt.Sprintf("rekey-swarm-%s-node%d", id, i), fmt.Sprintf("node%d", i), i == 1)
	}
	for i := range s.Nodes {
		s.waitEngine(tb, i)
	}
	s.form(tb)
	return s
}

// startNode runs one node container (known to remove before it is created); the manager's API port is
// published on the host's loopback.
func (s *SwarmNodes) startNode(tb testing.TB, name, hostname string, manager bool) {
	tb.Helper()
	s.Nodes = append(s.Nodes, SwarmNode{Container: name, Hostname: hostname})
	node := &s.Nodes[len(s.Nodes)-1]
	args := []string{"run", "-d", "--name", name, "--hostname", hostname, "--network", s.network,
		"--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined", "--security-opt", "systempaths=unconfined",
		"--cgroupns", "host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/var/lib/docker:exec,size=4g",
		"-e", "NODE_NAME=" + name, "--label", "io.rekey.test=swarmnodes"}
	for _, c := range nodeCaps {
		args = append(args, "--cap-add", c)
	}
	if manager {
		args = append(args, "-p", "127.0.0.1::2375")
	}
	Docker(tb, "", append(args, SwarmNodeImage)...)
	node.IP = strings.TrimSpace(Docker(tb, "", "inspect", "--format", `{{(index .NetworkSettings.Networks "`+s.network+`").IPAddress}}`, name))
	if manager {
		addr, _, _ := strings.Cut(strings.TrimSpace(Docker(tb, "", "port", name, "2375/tcp")), "\n")
		s.Host = "tcp://127.0.0.1:" + addr[strings.LastIndex(addr, ":")+1:]
	}
}

// waitEngine waits for a node's dockerd to answer.
func (s *SwarmNodes) waitEngine(tb testing.TB, i int) {
	tb.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := run(ctx, "", "docker", "exec", s.Nodes[i].Container, "docker", "info", "--format", "{{.ServerVersion}}")
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			logs, _ := run(context.Background(), "", "docker", "logs", "--tail", "30", s.Nodes[i].Container)
			tb.Fatalf("the dockerd of node %s did not answer within 60s: %v\n%s", s.Nodes[i].Hostname, err, logs)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// form makes node 1 the manager and joins the others as workers.
func (s *SwarmNodes) form(tb testing.TB) {
	tb.Helper()
	m := s.Nodes[0]
	s.Exec(tb, 0, "docker", "swarm", "init", "--advertise-addr", m.IP)
	token := strings.TrimSpace(s.Exec(tb, 0, "docker", "swarm", "join-token", "-q", "worker"))
	for i := 1; i < len(s.Nodes); i++ {
		s.Exec(tb, i, "docker", "swarm", "join", "--advertise-addr", s.Nodes[i].IP, "--token", token, m.IP+":2377")
	}
	for i := range s.Nodes {
		s.Nodes[i].ID = strings.TrimSpace(s.Exec(tb, i, "docker", "info", "--format", "{{.Swarm.NodeID}}"))
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ready := strings.Count(s.Exec(tb, 0, "docker", "node", "ls", "--format", "{{.Status}}"), "Ready")
		if ready == len(s.Nodes) {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%d of %d swarm nodes ready after 60s", ready, len(s.Nodes))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// Exec runs a command in node i's container (docker CLI commands there talk to that node's engine) and
// returns its standard output; a failure ends the test.
func (s *SwarmNodes) Exec(tb testing.TB, i int, cmd ...string) string {
	tb.Helper()
	return Docker(tb, "", append([]string{"exec", s.Nodes[i].Container}, cmd...)...)
}

// Docker runs the docker CLI against the manager (dir: its working directory, for stack files).
func (s *SwarmNodes) Docker(tb testing.TB, dir string, args ...string) string {
	tb.Helper()
	return Docker(tb, dir, append([]string{"--host", s.Host}, args...)...)
}

// Load copies images of the host engine into every node (docker save | docker exec -i NODE docker load):
// there is no registry, and a task starts only where its image is.
func (s *SwarmNodes) Load(tb testing.TB, images ...string) {
	tb.Helper()
	for _, img := range images {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		tar, err := run(ctx, "", "docker", "save", img)
		cancel()
		if err != nil {
			tb.Fatalf("docker save %s: %v", img, err)
		}
		for _, n := range s.Nodes {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			_, err := runStdin(ctx, "", []byte(tar), "docker", "exec", "-i", n.Container, "docker", "load", "-q")
			cancel()
			if err != nil {
				tb.Fatalf("docker load of %s into %s: %v", img, n.Hostname, err)
			}
		}
	}
}

// remove removes the nodes (their engines and tmpfs with them) and the network.
func (s *SwarmNodes) remove(tb testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, n := range s.Nodes {
		if _, err := run(ctx, "", "docker", "rm", "-f", "-v", n.Container); err != nil && !strings.Contains(err.Error(), "No such container") {
			tb.Errorf("removing swarm node %s: %v", n.Container, err)
		}
	}
	if _, err := run(ctx, "", "docker", "network", "rm", s.network); err != nil {
		tb.Errorf("removing network %s: %v", s.network, err)
	}
}

// ExecStdin is Exec with stdin as the command's standard input (docker exec -i): how a test hands a
// value to a command on a node without putting it in argv.
func (s *SwarmNodes) ExecStdin(tb testing.TB, i int, stdin []byte, cmd ...string) (string, error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return runStdin(ctx, "", stdin, "docker", append([]string{"exec", "-i", s.Nodes[i].Container}, cmd...)...)
}
