package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/rekeyhq/rekey/report"
)

func cmdRunbook(ctx context.Context, args []string, e env) error {
	var o options
	fs := newFlagSet("runbook", e.stderr, &o)
	only := fs.String("secret", "", "only this secret (default: every secret)")
	if err := o.parse(fs, args); err != nil {
		return err
	}
	if o.json() {
		return usageError("runbook writes Markdown only: drop --output json (rekey inventory --output json has the map)")
	}
	s, err := load(ctx, &o, e)
	if err != nil {
		return err
	}
	if *only != "" && s.cfg.Secrets[*only] == nil {
		return fmt.Errorf("secret %s is not declared in %s (declared: %s)", *only, configFile, strings.Join(s.cfg.Names(), ", "))
	}
	in, err := runbookInput(ctx, s, *only)
	if err != nil {
		return s.redact.Error(err)
	}
	rb, red, err := report.BuildRunbook(ctx, in)
	if err != nil {
		return s.redact.Error(err)
	}
	var b bytes.Buffer
	report.PrintRunbook(&b, rb)
	_, err = io.WriteString(e.stdout, s.redact.String(red.String(b.String())))
	return err
}

// runbookInput gathers what the runbook reads besides the loaded desired state: its inventory, the
// journal, the age key file (absolute: the runbook is read from anywhere, at 3 am) and the identities.
func runbookInput(ctx context.Context, s *session, only string) (report.RunbookInput, error) {
	in := report.RunbookInput{Desired: s.desired, Config: s.cfg, Project: s.project, Repo: s.repo, Commit: s.commit,
		FP: s.fp, Ref: s.o.ref, StateDir: s.o.stateDir, Only: only}
	var err error
	if in.Inventory, err = report.BuildInventory(ctx, inventoryInput(s)); err != nil {
		return in, err
	}
	if in.Records, err = allRecords(s.o.stateDir); err != nil {
		return in, err
	}
	if in.KeyFile, err = s.o.keyFile(s.e); err != nil {
		return in, err
	}
	if abs, err := filepath.Abs(in.KeyFile); err == nil {
		in.KeyFile = abs
	}
	in.Identities, err = identities(s.o, s.e)
	return in, err
}
