// Package swarmio holds the Docker Swarm side effects rekey needs: versioned secret objects (create,
// label, list, remove), moving a service's secret references to another object with one service update,
// waiting for the update to converge, and editing the `name:` of a secret in a stack file. It speaks
// Docker's and the stack file's terms; of rekey it imports only dockerio, whose Safe makes its engine
// errors what dockerio's are (redacted, and retryable when the engine did not answer).
//
// Secret values travel only in the API request that creates an object (Swarm never returns them); no
// error carries a value, and engine errors pass through the caller's redaction function.
package swarmio

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"

	"github.com/rekeyhq/rekey/dockerio"
)

// Label keys rekey sets on the secret objects it creates or moves a stack away from.
const (
	LabelNamespace   = "com.docker.stack.namespace" // set by docker stack deploy; rekey sets it too
	LabelSecret      = "io.rekey.secret"            // <stack>/<compose secret key>: the objects are versions of it
	LabelFingerprint = "io.rekey.fingerprint"       // rekey's HMAC fingerprint of the object's data
	LabelTxn         = "io.rekey.txn"               // the transaction that created the object
)

// Swarm talks to a Swarm manager through the Engine API.
type Swarm struct {
	cli    *client.Client
	redact func(string) string
}

// New connects to the engine at host ("" = the client default), checks that it is a Swarm manager and
// negotiates the API version.
func New(ctx context.Context, host string, redact func(string) string) (*Swarm, error) {
	if redact == nil {
		redact = func(s string) string { return s }
	}
	opts := []client.Opt{client.WithAPIVersionNegotiation()}
	if host != "" {
		opts = append(opts, client.WithHost(host))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("failed to create the docker client: %w", err)
	}
	s := &Swarm{cli: cli, redact: redact}
	info, err := cli.Info(ctx)
	if err != nil {
		_ = cli.Close()
		return nil, fmt.Errorf("cannot reach the Docker engine: %s; is dockerd running?", redact(err.Error()))
	}
	if info.Swarm.LocalNodeState != swarm.LocalNodeStateActive || !info.Swarm.ControlAvailable {
		_ = cli.Close()
		return nil, fmt.Errorf("the Docker engine is not a Swarm manager (node state %q): run rekey on a manager of the stack's swarm", info.Swarm.LocalNodeState)
	}
	return s, nil
}

// Close releases the client's connections.
func (s *Swarm) Close() error {
	if s == nil || s.cli == nil {
		return nil
	}
	return s.cli.Close()
}

// wrap turns an engine error into this package's error text, redacted.
func (s *Swarm) wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, dockerio.Safe(err, s.redact))
}
