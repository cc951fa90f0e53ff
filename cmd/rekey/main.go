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
	"github.com/rekeyhq/rekey/internal/harden"
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
	if err := harden.NoCoreDumps(); err != nil {
		fmt.Fprintln(os.Stderr, "rekey:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}

// run executes one command line and returns its exit code. Help goes to stdout; errors to stderr.
func run(ctx context.Context, args []string, e env) int {
	root := newRoot(e)
	if args == nil {
		args = []string{} // cobra reads os.Args when given nil
	}
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
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
