package app

import (
	"fmt"
	"strings"
	"syscall"

	"github.com/rekeyhq/rekey/journal"
	"github.com/rekeyhq/rekey/reconcile"
)

// NextSteps tells the operator what to do after a run that did not end OK: one line per secret that
// needs something, each with the cause when rekey can name it and the command that finishes the job.
// err is the error that stopped the run, if any. stateDir locates the journal, to explain its failures.
func NextSteps(stateDir string, results []reconcile.Result, servers map[string]string, err error) []string {
	var lines []string
	for _, r := range results {
		text := r.Reason
		if err != nil {
			text += "\n" + err.Error()
		}
		if step := nextStep(r, servers[r.Secret], causeOf(stateDir, text)); step != "" {
			lines = append(lines, fmt.Sprintf("next (%s): %s", r.Secret, step))
		}
	}
	return lines
}

// nextStep is what to do about one result, "" when nothing. server names the secret's credential server.
func nextStep(r reconcile.Result, server, cause string) string {
	fix := "fix the cause"
	if cause != "" {
		fix += " (" + cause + ")"
	}
	switch r.Outcome {
	case reconcile.OutcomeFailed:
		if _, next, ok := strings.Cut(r.Reason, "Next: "); ok && r.Action == reconcile.ActionHold {
			return next // an undeclared secret's transaction rekey cannot finish (reconcile/orphan.go)
		}
		return fix + ", then run `rekey apply` again to finish the rollback, then `rekey status` to check that no transaction is left open"
	case reconcile.OutcomeRolledBack:
		return "rolled back, the old value is in place: " + fix + ", then run `rekey apply`"
	case reconcile.OutcomeBlocked:
		return "nothing was changed: " + fix + ", then run `rekey apply`"
	case reconcile.OutcomeHeld:
		return "this value rolled back before: fix the cause, then run `rekey apply` to try it again, or commit a new value"
	case reconcile.OutcomeFinalizeFailed:
		if server != "" {
			return fmt.Sprintf("the new value is live; once %s is reachable run `rekey apply` to finish", server)
		}
		return "the new value is live and the previous one kept: " + fix + ", then run `rekey apply` to finish"
	}
	return ""
}

// causeOf names a cause rekey can diagnose in an error text, with what to do about it: the journal or the
// state dir refusing writes or full, a full filesystem, the Docker engine away. "" when it cannot tell.
func causeOf(stateDir, text string) string {
	errno, ok := errnoIn(text)
	switch {
	case ok && stateDir != "" && strings.Contains(text, stateDir):
		if why := journal.Explain(stateDir, errno); why != "" {
			return why
		}
	case ok && errno == syscall.ENOSPC:
		return "a filesystem is full: free space on it"
	case strings.Contains(text, "failed to connect to the docker API"), strings.Contains(text, "Cannot connect to the Docker daemon"):
		return "the Docker engine did not answer: check that dockerd runs (`docker info`)"
	}
	return ""
}

// errnoIn finds the filesystem refusal an error text reports, by the text the system gives it.
func errnoIn(text string) (syscall.Errno, bool) {
	for _, e := range []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT, syscall.EPERM, syscall.EACCES, syscall.EROFS} {
		if strings.Contains(text, e.Error()) {
			return e, true
		}
	}
	return 0, false
}
