// Command rekey rotates secrets on a Docker Compose stack from a SOPS-encrypted Git repository.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/rekeyhq/rekey/app"
)

// Exit codes, documented in docs/cli.md.
const (
	exitOK         = 0 // everything in sync, rotated, or waiting for its window
	exitError      = 1 // bad input or an unreachable dependency: nothing was changed
	exitUsage      = 2 // wrong command line
	exitRolledBack = 3 // a rotation was rolled back (the old value is live) or a finalize failed (new value live, previous kept)
	exitAttention  = 4 // a rollback or recovery did not complete: run `rekey apply` again, then inspect `rekey status`
	exitRefused    = 5 // the desired state was not trusted (signature, rewritten history, replayed value): nothing changed
	exitDrift      = 6 // live values differ from Git while Git did not change (drift): reported, nothing changed
	exitUnknown    = 7 // drift: some places could not be read (and no drift was found elsewhere)
)

// env is the process environment as the CLI passes it down; nothing below main reads os.Getenv.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}

var commands = map[string]func(context.Context, []string, env) error{
	"agent":      cmdAgent,
	"history":    cmdHistory,
	"rotate":     cmdRotate,
	"adopt":      cmdAdopt,
	"reconcile":  cmdReconcile,
	"plan":       cmdPlan,
	"apply":      cmdApply,
	"status":     cmdStatus,
	"drift":      cmdDrift,
	"values":     cmdValues,
	"version":    cmdVersion,
	"inventory":  cmdInventory,
	"runbook":    cmdRunbook,
	"completion": cmdCompletion,
	"init":       cmdInit,
}

const usage = `rekey rotates secrets on a Docker Compose stack from a SOPS-encrypted Git repository.

Usage:
  rekey plan    [flags]          show what apply would do, with fingerprints
  rekey apply   [flags]          rotate what differs from Git, verify, then drop old values
  rekey status  [flags]          live state, unfinished transactions and last outcomes
  rekey drift   [flags]          compare every source, container and mounted file with Git
  rekey agent   [flags]          reconcile continuously: on an interval, on push webhooks, on local commits
  rekey reconcile [--state-dir]  ask the running agent to reconcile now, and print what happened
  rekey values set SECRET        encrypt a new value (read from stdin) into the values file
  rekey rotate SECRET [flags]    generate a new value, commit (and push) it, then apply it
  rekey adopt SECRET [flags]     move a PostgreSQL login from its owner role to alternating login roles
  rekey history [SECRET]         audit trail: commits, per-secret fingerprint changes, rotations applied
  rekey inventory [flags]        dependency map: sources, consumers, restart order, checks, hidden dependencies
  rekey runbook [--secret NAME]  Markdown runbook from the config and the journal, with manual rollback steps
  rekey init --out DIR [flags]  propose rekey.yaml and encrypted values from an existing Compose project
  rekey version
  rekey completion bash|zsh|fish  print a shell completion script

Common flags:
  --repo PATH|URL      desired-state repository (default .)
  --ref REF            branch, tag or commit (default: HEAD / the remote's default branch)
  --age-key-file FILE  age identities (default $SOPS_AGE_KEY_FILE, then ~/.config/sops/age/keys.txt)
  --state-dir DIR      journal, keys and snapshots (default /var/lib/rekey)
  --output text|json   output format (default text)

Run 'rekey COMMAND -h' for the flags of a command. Exit codes: 0 ok, 1 error (nothing changed),
2 usage, 3 rolled back, 4 needs attention, 5 refused (untrusted commit, rewritten history,
replayed value), 6 drift (live differs from an unchanged Git), 7 drift unknown (a place
could not be read).
`

func run(ctx context.Context, args []string, e env) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(e.stderr, usage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "rekey: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	err := cmd(ctx, args[1:], e)
	code := exitCode(err)
	if msg := errString(err); msg != "" {
		fmt.Fprintf(e.stderr, "rekey: %s\n", msg)
	}
	return code
}

// exitCode maps what a command ended with to the documented exit code: the use cases' typed errors
// (refused, an outcome other than OK, options that cannot work), the CLI's own, or 1.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	if code, ok := typedExit(err); ok {
		return code
	}
	return exitError
}

// typedExit is the exit code an error carries, if it carries one.
func typedExit(err error) (int, bool) {
	var (
		ce  *codeError
		ref *app.RefusedError
		out *app.OutcomeError
		opt *app.OptionsError
	)
	switch {
	case errors.As(err, &ce):
		return ce.code, true
	case errors.As(err, &ref):
		return exitRefused, true
	case errors.As(err, &out):
		return int(out.Verdict), true
	case errors.As(err, &opt):
		return exitUsage, true
	}
	return 0, false
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// codeError ends a command with a specific exit code.
type codeError struct {
	code int
	msg  string
}

func (e *codeError) Error() string { return e.msg }

func usageError(format string, args ...any) error {
	return &codeError{code: exitUsage, msg: fmt.Sprintf(format, args...)}
}
