package provider

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
)

// Host runs commands on the host, with only Env as their environment (never a value: those travel on
// stdin), for drivers whose commands are scripts next to the stack (a provider's CLI, an API call).
type Host struct {
	Env []string
	Dir string
}

// Exec implements Exec on the host.
func (h Host) Exec(ctx context.Context, cmd []string, stdin []byte) (int, []byte, error) {
	if len(cmd) == 0 {
		return -1, nil, errors.New("failed to run: empty command")
	}
	c := exec.CommandContext(ctx, cmd[0], cmd[1:]...)
	// A nil Env would make the child inherit rekey's whole environment.
	c.Env, c.Dir, c.Stdin = append([]string{}, h.Env...), h.Dir, bytes.NewReader(stdin)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	err := c.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee) && ctx.Err() == nil:
		return ee.ExitCode(), out.Bytes(), nil
	case err != nil:
		return -1, out.Bytes(), fmt.Errorf("failed to run %s: %w", cmd[0], err)
	}
	return 0, out.Bytes(), nil
}
