package reconcile

import (
	"fmt"
	"strings"
	"time"
)

// CheckKind names a verification.
type CheckKind string

const (
	CheckHTTP CheckKind = "http" // an HTTP request from rekey's side must return Status
	CheckExec CheckKind = "exec" // a command inside a service container must exit 0
	CheckLogs CheckKind = "logs" // no deny pattern in the logs of rolled consumers since they started
	CheckCmd  CheckKind = "cmd"  // a command on the host must exit 0
)

// Check is one verification step. Only the fields of its Kind are set.
type Check struct {
	Kind    CheckKind     `json:"kind"`
	URL     string        `json:"url,omitempty"`
	Status  int           `json:"status,omitempty"`
	Service string        `json:"service,omitempty"` // exec: where to run; logs: which service ("" = every consumer rolled so far)
	Cmd     []string      `json:"cmd,omitempty"`     // exec and cmd
	Deny    []string      `json:"deny,omitempty"`    // logs
	Timeout time.Duration `json:"timeout_ns,omitempty"`
}

func (c Check) String() string {
	switch c.Kind {
	case CheckHTTP:
		return fmt.Sprintf("http %s → %d", c.URL, c.Status)
	case CheckExec:
		return fmt.Sprintf("exec in %s: %s", c.Service, strings.Join(c.Cmd, " "))
	case CheckLogs:
		where := "rolled consumers"
		if c.Service != "" {
			where = c.Service
		}
		return fmt.Sprintf("logs of %s deny %q", where, c.Deny)
	case CheckCmd:
		return fmt.Sprintf("host cmd: %s", strings.Join(c.Cmd, " "))
	}
	return string(c.Kind)
}
