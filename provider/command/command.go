// Package command is the generic credential driver: declared commands, run in a service's container or
// on the host, do what a dedicated driver would (check, stage, verify, drain, revoke, unstage, probe).
// Values reach a command on its stdin, one per line, in a fixed order per command; never in argv or the
// environment. A server without a revoke command is an external one: the old value becomes a pending
// revocation, followed with the probe command until it stops working.
package command

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rekeyhq/rekey/provider"
	"github.com/rekeyhq/rekey/reconcile"
)

// Commands are the declared commands, each an argv. Verify is required; Probe is required when Revoke
// is missing. What each gets on stdin:
//
//	check   current            (exit 0: the server works and accepts it; default: verify with current)
//	stage   current, next      (make the server accept next as well; default: nothing, next must verify)
//	verify  next               (exit 0: next logs in)
//	drain   next               (exit 0 once no session uses another value; default: nothing to wait for)
//	revoke  next               (make the server accept next only; default: revoke by hand, pending)
//	unstage current, next      (accept current only again; next may be an empty line; default: nothing)
//	probe   value              (exit 0: still accepted; exit 1: rejected; anything else: cannot tell)
type Commands struct {
	Check, Stage, Verify, Drain, Revoke, Unstage, Probe []string
}

// Command drives one server through its commands.
type Command struct {
	name string
	exec provider.Exec
	cmds Commands
}

// New returns the driver for the server called name, running cmds through exec.
func New(name string, exec provider.Exec, cmds Commands) (*Command, error) {
	switch {
	case len(cmds.Verify) == 0:
		return nil, fmt.Errorf("command %s: a verify command is required", name)
	case len(cmds.Revoke) == 0 && len(cmds.Probe) == 0:
		return nil, fmt.Errorf("command %s: without a revoke command the old value is revoked by hand, and rekey needs a probe command to follow it", name)
	}
	return &Command{name: name, exec: exec, cmds: cmds}, nil
}

// Mechanism implements provider.Provider.
func (c *Command) Mechanism() string {
	if len(c.cmds.Revoke) == 0 {
		return "declared commands; the old value is revoked by hand and probed until it stops working"
	}
	return "declared commands stage, verify and revoke"
}

// run runs argv with values on stdin, one per line; a non-zero exit is an error naming the step.
func (c *Command) run(ctx context.Context, step string, argv []string, values ...string) (int, error) {
	var in strings.Builder
	for _, v := range values {
		if strings.ContainsAny(v, "\n\r") {
			return -1, fmt.Errorf("command %s: %s: a value holds a line break, which the one-value-per-line stdin of the commands cannot carry", c.name, step)
		}
		in.WriteString(v + "\n")
	}
	code, out, err := c.exec.Exec(ctx, argv, []byte(in.String()))
	if err != nil {
		return code, fmt.Errorf("command %s: %s: %w: %w", c.name, step, provider.ErrUnreachable, err)
	}
	if code != 0 {
		// The output is the command's own; rekey's redaction removes any value it might echo.
		return code, fmt.Errorf("command %s: %s exited %d: %s", c.name, step, code, firstLine(out))
	}
	return 0, nil
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	l, _, _ := strings.Cut(s, "\n")
	if len(l) > 300 {
		l = l[:300] + "…"
	}
	if l == "" {
		return "(no output)"
	}
	return l
}

// Check implements provider.Provider.
func (c *Command) Check(ctx context.Context, current string) error {
	if len(c.cmds.Check) == 0 {
		_, err := c.run(ctx, "check (verify with the current value)", c.cmds.Verify, current)
		return err
	}
	_, err := c.run(ctx, "check", c.cmds.Check, current)
	return err
}

// Stage implements provider.Provider.
func (c *Command) Stage(ctx context.Context, current, next string) (string, error) {
	if len(c.cmds.Stage) == 0 {
		if err := c.Verify(ctx, next); err != nil {
			return "", fmt.Errorf("%w (no stage command: create the new credential at the provider first, then commit it)", err)
		}
		return "", nil
	}
	_, err := c.run(ctx, "stage", c.cmds.Stage, current, next)
	return "", err
}

// Verify implements provider.Provider.
func (c *Command) Verify(ctx context.Context, next string) error {
	_, err := c.run(ctx, "verify", c.cmds.Verify, next)
	return err
}

// Drain implements provider.Provider.
func (c *Command) Drain(ctx context.Context, next string) error {
	if len(c.cmds.Drain) == 0 {
		return nil
	}
	_, err := c.run(ctx, "drain", c.cmds.Drain, next)
	return err
}

// Revoke implements provider.Provider.
func (c *Command) Revoke(ctx context.Context, next string) error {
	if len(c.cmds.Revoke) == 0 {
		return fmt.Errorf("command %s: no revoke command: %w", c.name, reconcile.ErrRevokeByHand)
	}
	_, err := c.run(ctx, "revoke", c.cmds.Revoke, next)
	return err
}

// Unstage implements provider.Provider. Without an unstage command the new value stays valid: it was
// created for this rotation and never reached a source for long.
func (c *Command) Unstage(ctx context.Context, current, next string) error {
	if len(c.cmds.Unstage) == 0 {
		return nil
	}
	_, err := c.run(ctx, "unstage", c.cmds.Unstage, current, next)
	return err
}

// Swap implements reconcile.Swapper: stage then revoke when a stage command is declared, else revoke
// alone (it makes the server accept the new value only).
func (c *Command) Swap(ctx context.Context, current, next string) error {
	if len(c.cmds.Stage) > 0 {
		if _, err := c.Stage(ctx, current, next); err != nil {
			return err
		}
	}
	return c.Revoke(ctx, next)
}

// Accepts implements reconcile.Prober with the probe command (exit 1: rejected), or else verify.
func (c *Command) Accepts(ctx context.Context, value string) (bool, error) {
	argv, step := c.cmds.Probe, "probe"
	if len(argv) == 0 {
		argv, step = c.cmds.Verify, "probe (verify)"
	}
	code, err := c.run(ctx, step, argv, value)
	switch {
	case code == 0:
		return true, nil
	case code == 1 && len(c.cmds.Probe) > 0:
		return false, nil
	case len(c.cmds.Probe) == 0 && !errors.Is(err, provider.ErrUnreachable):
		return false, nil
	}
	return false, err
}
