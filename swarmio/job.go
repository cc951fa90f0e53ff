package swarmio

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"filippo.io/age"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/pkg/stdcopy"
)

// LabelRelay marks the job services and stdin objects of relays, with the relay's id.
const LabelRelay = "io.rekey.relay"

// dockerSocket is the engine socket a relay job mounts from its node.
const dockerSocket = "/var/run/docker.sock"

// RelayTimeout bounds one relayed command, from the job's creation to its result.
const RelayTimeout = 2 * time.Minute

// Relay runs commands in the running container of one service, wherever Swarm placed it, through a
// one-off job on that container's node (see relay.go).
type Relay struct {
	Swarm   *Swarm
	Service string // the full service name, <stack>_<service>
	Image   string // the relay image: a rekey image present on every node that may run the service
}

// Exec runs cmd in a running container of the service, stdin delivered as a one-off secret object,
// and returns the command's exit code and output (stdout then stderr). A non-zero exit code is not an
// error; err says the command could not be run. The job and the object are removed before it returns.
func (r Relay) Exec(ctx context.Context, cmd []string, stdin []byte) (int, []byte, error) {
	if len(cmd) == 0 {
		return -1, nil, errors.New("failed to relay: empty command")
	}
	node, ctr, err := r.Swarm.runningContainer(ctx, r.Service)
	if err != nil {
		return -1, nil, err
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return -1, nil, fmt.Errorf("failed to make the relay's key: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, RelayTimeout)
	defer cancel()
	name := "rekey-relay-" + randomHex(6)
	defer r.Swarm.removeRelay(name)
	var stdinRef *swarm.SecretReference
	if len(stdin) > 0 {
		if stdinRef, err = r.Swarm.relayStdin(ctx, name, stdin); err != nil {
			return -1, nil, err
		}
	}
	args := []string{RelayCommand, "--container", ctr, "--recipient", id.Recipient().String()}
	if stdinRef != nil {
		args = append(args, "--stdin", "/run/secrets/"+RelayStdinTarget)
	}
	args = append(append(args, "--"), cmd...)
	jobID, err := r.Swarm.createRelayJob(ctx, name, r.Image, node, args, stdinRef)
	if err != nil {
		return -1, nil, err
	}
	task, err := r.Swarm.waitJob(ctx, jobID)
	if err != nil {
		return -1, nil, fmt.Errorf("relay to %s on node %s: %w", r.Service, short(node), err)
	}
	log, err := r.Swarm.jobLog(ctx, jobID)
	if err != nil {
		return -1, nil, err
	}
	res, err := unseal(id, log)
	if err != nil {
		return -1, nil, r.failed(task, node, log, err)
	}
	return res.Code, res.Out, nil
}

// failed explains a relay that returned no result: Swarm's word on the task, and the relay's own last
// line (its errors name commands and containers, never a value: values are only in its stdin).
func (r Relay) failed(task swarm.Task, node string, log []byte, err error) error {
	why := string(task.Status.State)
	if task.Status.Err != "" {
		why += ": " + task.Status.Err
	}
	if last := lastLine(log); last != "" {
		why += "; the relay said: " + last
	}
	if task.Status.State == swarm.TaskStateRejected {
		why += fmt.Sprintf(" (is the relay image %s on that node?)", r.Image)
	}
	return fmt.Errorf("relay to %s on node %s: %w (task %s)", r.Service, short(node), err, r.Swarm.redact(why))
}

func lastLine(log []byte) string {
	lines := strings.Split(strings.TrimSpace(string(log)), "\n")
	l := strings.TrimSpace(lines[len(lines)-1])
	if len(l) > 300 {
		l = l[:300] + "…"
	}
	return l
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// runningContainer finds the node and the container of a running task of the service.
func (s *Swarm) runningContainer(ctx context.Context, service string) (node, ctr string, err error) {
	tasks, err := s.runningTasks(ctx, service)
	if err != nil {
		return "", "", err
	}
	for _, t := range tasks {
		if cs := t.Status.ContainerStatus; t.Status.State == swarm.TaskStateRunning && cs != nil && cs.ContainerID != "" && t.NodeID != "" {
			return t.NodeID, cs.ContainerID, nil
		}
	}
	return "", "", fmt.Errorf("service %s has no running task: is the stack deployed?", service)
}

// relayStdin creates the one-off object holding a relay's stdin: the value travels in this request
// and reaches only the job's tmpfs.
func (s *Swarm) relayStdin(ctx context.Context, name string, stdin []byte) (*swarm.SecretReference, error) {
	spec := swarm.SecretSpec{Annotations: swarm.Annotations{Name: name, Labels: map[string]string{LabelRelay: name}}, Data: stdin}
	resp, err := s.cli.SecretCreate(ctx, spec)
	if err != nil {
		return nil, s.wrap("failed to create the relay's stdin object", err)
	}
	return &swarm.SecretReference{SecretID: resp.ID, SecretName: name,
		File: &swarm.SecretReferenceFileTarget{Name: RelayStdinTarget, UID: "0", GID: "0", Mode: 0o400}}, nil
}

// createRelayJob starts a replicated job of one task on node, with the node's Docker socket mounted.
func (s *Swarm) createRelayJob(ctx context.Context, name, image, node string, args []string, stdin *swarm.SecretReference) (string, error) {
	one := uint64(1)
	cs := &swarm.ContainerSpec{Image: image, Args: args, Labels: map[string]string{LabelRelay: name},
		Mounts: []mount.Mount{{Type: mount.TypeBind, Source: dockerSocket, Target: dockerSocket}}}
	if stdin != nil {
		cs.Secrets = []*swarm.SecretReference{stdin}
	}
	spec := swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: name, Labels: map[string]string{LabelRelay: name}},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: cs,
			RestartPolicy: &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionNone},
			Placement:     &swarm.Placement{Constraints: []string{"node.id==" + node}},
		},
		Mode: swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{MaxConcurrent: &one, TotalCompletions: &one}},
	}
	resp, err := s.cli.ServiceCreate(ctx, spec, swarm.ServiceCreateOptions{QueryRegistry: false})
	if err != nil {
		return "", s.wrap("failed to create the relay job", err)
	}
	return resp.ID, nil
}

// waitJob waits for the job's task to end and returns it.
func (s *Swarm) waitJob(ctx context.Context, jobID string) (swarm.Task, error) {
	f := filters.NewArgs(filters.Arg("service", jobID))
	for {
		tasks, err := s.cli.TaskList(ctx, swarm.TaskListOptions{Filters: f})
		if err != nil {
			return swarm.Task{}, s.wrap("failed to list the relay job's tasks", err)
		}
		for _, t := range tasks {
			switch t.Status.State {
			case swarm.TaskStateComplete, swarm.TaskStateFailed, swarm.TaskStateRejected, swarm.TaskStateShutdown, swarm.TaskStateOrphaned:
				return t, nil
			}
		}
		select {
		case <-ctx.Done():
			return swarm.Task{}, fmt.Errorf("the relay job did not end: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// jobLog reads the job's whole log (stdout then stderr) through the manager.
func (s *Swarm) jobLog(ctx context.Context, jobID string) ([]byte, error) {
	rc, err := s.cli.ServiceLogs(ctx, jobID, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return nil, s.wrap("failed to read the relay job's log", err)
	}
	defer rc.Close()
	var out, errOut bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &errOut, io.LimitReader(rc, maxRelayOutput)); err != nil {
		return nil, s.wrap("failed to read the relay job's log", err)
	}
	return append(out.Bytes(), errOut.Bytes()...), nil
}

// removeRelay removes a relay's job and stdin object, whatever happened (on its own deadline: the
// caller's context may be over). The object can go once no service refers to it; a failed removal of
// the job (which mounts the node's Docker socket) is tried again with the object's.
func (s *Swarm) removeRelay(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	jobGone := false
	for i := 0; i < 50; i++ {
		if !jobGone {
			err := s.cli.ServiceRemove(ctx, name)
			jobGone = err == nil || cerrdefs.IsNotFound(err)
		}
		err := s.cli.SecretRemove(ctx, name)
		if jobGone && (err == nil || cerrdefs.IsNotFound(err)) || ctx.Err() != nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// SweepRelays removes the jobs and stdin objects of relays older than RelayTimeout: what a rekey killed
// in the middle of a relay left (a live relay removes its own). Errors are ignored: the next run tries
// again, and an object still in use cannot be removed anyway.
func (s *Swarm) SweepRelays(ctx context.Context) {
	f := filters.NewArgs(filters.Arg("label", LabelRelay))
	old := time.Now().Add(-RelayTimeout)
	if svcs, err := s.cli.ServiceList(ctx, swarm.ServiceListOptions{Filters: f}); err == nil {
		for _, svc := range svcs {
			if svc.CreatedAt.Before(old) {
				_ = s.cli.ServiceRemove(ctx, svc.ID)
			}
		}
	}
	if secs, err := s.cli.SecretList(ctx, swarm.SecretListOptions{Filters: f}); err == nil {
		for _, sec := range secs {
			if sec.CreatedAt.Before(old) {
				_ = s.cli.SecretRemove(ctx, sec.ID)
			}
		}
	}
}
