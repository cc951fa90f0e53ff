package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rekeyhq/rekey/app"
	"github.com/rekeyhq/rekey/report"
)

func runbookCmd(e env) *cobra.Command {
	var o options
	var only string
	c := withOptions(&cobra.Command{
		Use:   "runbook",
		Short: "Markdown runbook from the config and the journal, with manual rollback steps",
		Long: `Runbook writes a Markdown runbook for the secrets of the stack (or only --secret), from the
configuration and from what the journal in --state-dir really saw: for each secret, where it lives, who
consumes it, the restart order that worked last time, the checks, the hidden dependencies, the last
rotation and its outcome, and manual rollback steps for a human at 3 am. It changes nothing; secrets are
named by their fingerprint, never by value.`,
		Example: `  rekey runbook --repo /srv/stack-secrets > RUNBOOK.md
  rekey runbook --secret db_password`,
		Args: noArgs,
	}, &o, func(ctx context.Context, _ []string) error { return runRunbook(ctx, &o, e, only) })
	c.Flags().StringVar(&only, "secret", "", "only this secret (default: every secret)")
	if err := c.RegisterFlagCompletionFunc("secret", completeSecret(&o)); err != nil {
		panic(err)
	}
	return c
}

func runRunbook(ctx context.Context, o *options, e env, only string) error {
	if o.json() {
		return usageError("runbook writes Markdown only: drop --output json (rekey inventory --output json has the map)")
	}
	s, err := app.LoadToLook(ctx, o.app(e))
	if err != nil {
		return err
	}
	if only != "" && s.Config.Secrets[only] == nil {
		return fmt.Errorf("secret %s is not declared in %s (declared: %s)", only, app.ConfigFile, strings.Join(s.Config.Names(), ", "))
	}
	in, err := runbookInput(ctx, o, e, s, only)
	if err != nil {
		return s.Redact.Error(err)
	}
	rb, red, err := report.BuildRunbook(ctx, in)
	if err != nil {
		return s.Redact.Error(err)
	}
	var b bytes.Buffer
	report.PrintRunbook(&b, rb)
	_, err = io.WriteString(e.stdout, s.Redact.ForReport().String(red.ForReport().String(b.String())))
	return err
}

// runbookInput gathers what the runbook reads besides the loaded desired state: its inventory, the
// journal, the age key file (absolute: the runbook is read from anywhere, at 3 am) and the identities.
func runbookInput(ctx context.Context, o *options, e env, s *app.Session, only string) (report.RunbookInput, error) {
	in := report.RunbookInput{Desired: s.Desired, Config: s.Config, Project: s.Project, Repo: s.Repo, Commit: s.Commit,
		FP: s.FP, Ref: o.ref, StateDir: o.stateDir, Only: only}
	var err error
	if in.Inventory, err = report.BuildInventory(ctx, inventoryInput(s)); err != nil {
		return in, err
	}
	if in.Records, err = allRecords(o.stateDir); err != nil {
		return in, err
	}
	if in.KeyFile, err = o.app(e).KeyFile(); err != nil {
		return in, err
	}
	if abs, err := filepath.Abs(in.KeyFile); err == nil {
		in.KeyFile = abs
	}
	in.Identities, err = o.app(e).Identities()
	return in, err
}
