package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

const rootLong = `rekey rotates secrets on a Docker Compose stack from a SOPS-encrypted Git repository.

The repository holds rekey.yaml (which secrets exist, where each one is used) and the values, encrypted
with SOPS and age. rekey stages a new credential, updates its sources, restarts the consumers in order
behind health checks, verifies, then revokes the old value; it rolls back on failure, and a journal in
the state dir lets it finish or undo a rotation after a crash.

Exit codes: 0 ok, 1 error (nothing changed), 2 usage, 3 rolled back, 4 needs attention, 5 refused
(untrusted commit, rewritten history, replayed value), 6 drift (live differs from an unchanged Git),
7 drift unknown (a place could not be read).`

const rootExample = `  rekey plan --repo /srv/stack-secrets
  rekey apply --repo /srv/stack-secrets --age-key-file /etc/rekey/age.key
  rekey agent --repo https://git.example.com/ops/secrets.git --trust-ssh /etc/rekey/trusted-signers
  rekey plan --help`

// newRoot builds the command tree. Every command, flag, help text and completion comes from here; the
// Markdown reference and the man pages are generated from it (rekey docs).
func newRoot(e env) *cobra.Command {
	root := &cobra.Command{
		Use:     "rekey",
		Short:   "Rotate secrets on a Docker Compose stack from a SOPS-encrypted Git repository",
		Long:    rootLong,
		Example: rootExample,
		Args:    unknownCommand,
		// No command is a usage error: the help goes to stderr so that a script sees it, exit 2.
		RunE: func(c *cobra.Command, _ []string) error {
			c.SetOut(e.stderr)
			if err := c.Help(); err != nil {
				return err
			}
			return &codeError{code: exitUsage}
		},
		SilenceErrors:              true,
		SuggestionsMinimumDistance: 2,
		SilenceUsage:               true,
		DisableAutoGenTag:          true, // the reference must not change with the day it is generated
		CompletionOptions:          cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.SetFlagErrorFunc(flagError)
	root.AddGroup(&cobra.Group{ID: "rotate", Title: "Rotating:"}, &cobra.Group{ID: "look", Title: "Looking:"},
		&cobra.Group{ID: "setup", Title: "Setting up:"})
	for _, c := range []*cobra.Command{planCmd(e), applyCmd(e), rotateCmd(e), agentCmd(e), reconcileCmd(e), adoptCmd(e)} {
		c.GroupID = "rotate"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{statusCmd(e), driftCmd(e), historyCmd(e), inventoryCmd(e), runbookCmd(e)} {
		c.GroupID = "look"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{initCmd(e), valuesCmd(e), completionCmd(e), versionCmd(e)} {
		c.GroupID = "setup"
		root.AddCommand(c)
	}
	root.AddCommand(docsCmd(e))
	root.AddCommand(swarmExecCmd(e)) // hidden: the relay job of a credential server on another node
	root.SetHelpCommandGroupID("setup")
	return root
}

// flagError is a usage error (exit 2). A long flag written with one dash, as rekey took them before it
// used cobra (-repo), gets a hint.
func flagError(c *cobra.Command, err error) error {
	hint := ""
	if _, arg, ok := strings.Cut(err.Error(), "unknown shorthand flag: "); ok {
		if i := strings.LastIndex(arg, " in -"); i >= 0 {
			long := strings.TrimPrefix(arg[i+len(" in "):], "-")
			long, _, _ = strings.Cut(long, "=")
			if c.Flags().Lookup(long) != nil {
				hint = fmt.Sprintf(" (long flags take two dashes: --%s)", long)
			}
		}
	}
	return usageError("%v%s\nRun '%s --help' for usage.", err, hint, c.CommandPath())
}

// unknownCommand refuses a word that names no command (exit 2), with cobra's suggestions.
func unknownCommand(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := "unknown command %q"
	if s := c.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return usageError(msg+"\nRun 'rekey --help' for the commands.", args[0])
}

// withOptions binds the shared flags to c and runs fn once they are parsed and checked.
func withOptions(c *cobra.Command, o *options, fn func(ctx context.Context, args []string) error) *cobra.Command {
	o.bind(c)
	c.RunE = func(c *cobra.Command, args []string) error {
		if err := o.check(); err != nil {
			return err
		}
		return fn(c.Context(), args)
	}
	return c
}

// noArgs refuses positional arguments (exit 2).
func noArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError("unexpected argument %q", args[0])
	}
	return nil
}

// oneSecret wants exactly one secret name, anywhere among the flags.
func oneSecret(c *cobra.Command, args []string) error {
	if len(args) > 1 {
		return usageError("unexpected argument %q", args[1])
	}
	if len(args) == 0 {
		return usageError("%s takes exactly one secret name", c.Name())
	}
	return nil
}

// atMostOne takes an optional positional argument.
func atMostOne(_ *cobra.Command, args []string) error {
	if len(args) > 1 {
		return usageError("unexpected argument %q", args[1])
	}
	return nil
}
