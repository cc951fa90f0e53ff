package live

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/rekeyhq/rekey/dockerio"
	"github.com/rekeyhq/rekey/reconcile"
)

// Checks runs verifications against the live stack.
type Checks struct {
	Engine  *dockerio.Engine
	Project string
	HTTP    *http.Client
	// HostEnv is the whole environment of host check commands: never a secret.
	HostEnv []string
	Redact  func(string) string
	// LogSettle is how long a container must have run before a logs check reads its logs, so that
	// failures that follow a start by a moment are seen.
	LogSettle time.Duration
}

// Verify runs one check.
func (k *Checks) Verify(ctx context.Context, c reconcile.Check, scope reconcile.Scope) error {
	switch c.Kind {
	case reconcile.CheckHTTP:
		return k.http(ctx, c)
	case reconcile.CheckExec:
		return k.exec(ctx, c)
	case reconcile.CheckLogs:
		return k.logs(ctx, c, scope)
	case reconcile.CheckCmd:
		return k.cmd(ctx, c)
	}
	return fmt.Errorf("unknown check %q", c.Kind)
}

// http polls the URL until it answers the expected status or the check's timeout passes: a service that
// just turned healthy may still be warming up behind a proxy.
func (k *Checks) http(ctx context.Context, c reconcile.Check) error {
	ctx, cancel := context.WithTimeout(ctx, orDefault(c.Timeout, 10*time.Second))
	defer cancel()
	client := k.HTTP
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL, nil)
		if err != nil {
			return fmt.Errorf("invalid url %s: %w", c.URL, err)
		}
		resp, err := client.Do(req)
		if err == nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if resp.StatusCode == c.Status {
				return nil
			}
			last = fmt.Sprintf("status %d, want %d", resp.StatusCode, c.Status)
		} else {
			last = k.redact(err.Error())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("GET %s: %s", c.URL, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// defaultCommandTimeout bounds exec and host command checks, so a hung check cannot leave a rotation
// half-applied.
const defaultCommandTimeout = time.Minute

func (k *Checks) exec(ctx context.Context, c reconcile.Check) error {
	ctx, cancel := context.WithTimeout(ctx, orDefault(c.Timeout, defaultCommandTimeout))
	defer cancel()
	id, err := k.running(ctx, c.Service)
	if err != nil {
		return err
	}
	code, _, err := k.Engine.Exec(ctx, id, c.Cmd, nil)
	if err != nil {
		return fmt.Errorf("exec in %s: %w", c.Service, err)
	}
	if code != 0 {
		return fmt.Errorf("exec in %s: %s exited %d", c.Service, strings.Join(c.Cmd, " "), code)
	}
	return nil
}

func (k *Checks) running(ctx context.Context, service string) (string, error) {
	cs, err := k.Engine.Containers(ctx, k.Project, service)
	if err != nil {
		return "", err
	}
	for _, c := range cs {
		if c.Running {
			return c.ID, nil
		}
	}
	return "", fmt.Errorf("service %s has no running container", service)
}

// logs scans the rolled services (or the named one) for deny patterns since the transaction started, or
// since the container started when that was later.
// It reports the pattern, never the log line, which may hold a secret.
func (k *Checks) logs(ctx context.Context, c reconcile.Check, scope reconcile.Scope) error {
	services := []string{c.Service}
	if c.Service == "" {
		services = nil
		for _, s := range scope.Consumers {
			if !isHost(s) {
				services = append(services, s)
			}
		}
	}
	var cts []dockerio.Container
	for _, svc := range services {
		cs, err := k.Engine.Containers(ctx, k.Project, svc)
		if err != nil {
			return err
		}
		cts = append(cts, cs...)
	}
	// Read only once every container has run for the settle time: a failure that follows a start by a
	// moment is seen, and a container the health gate already waited for is read at once.
	var wait time.Duration
	for _, ct := range cts {
		wait = max(wait, time.Until(ct.StartedAt.Add(k.LogSettle)))
	}
	if wait > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	for _, ct := range cts {
		// Each container's own lines since it started: what an older container (or this one before its
		// restart) logged is not this rotation's doing.
		since := scope.Since
		if ct.StartedAt.After(since) {
			since = ct.StartedAt
		}
		m, err := k.Engine.LogsMatch(ctx, ct.ID, since, c.Deny)
		if err != nil {
			return err
		}
		if m != "" {
			return fmt.Errorf("logs of %s contain %q", ct.Name, m)
		}
	}
	return nil
}

// cmd runs a host command with an explicit environment and no secret in argv or env. Its output is
// discarded: it could print a secret, and errors end up in the journal.
func (k *Checks) cmd(ctx context.Context, c reconcile.Check) error {
	ctx, cancel := context.WithTimeout(ctx, orDefault(c.Timeout, defaultCommandTimeout))
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Cmd[0], c.Cmd[1:]...)
	cmd.Env = k.HostEnv
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second // a grandchild holding the output open must not hang the check
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("%s exited %d (run it by hand to see its output)", c.Cmd[0], ee.ExitCode())
	}
	if err != nil {
		return fmt.Errorf("failed to run %s: %w", c.Cmd[0], err)
	}
	return nil
}

func (k *Checks) redact(s string) string {
	if k.Redact == nil {
		return s
	}
	return k.Redact(s)
}
