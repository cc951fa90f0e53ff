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
	"github.com/rekeyhq/rekey/config"
	"github.com/rekeyhq/rekey/gitsync"
	"github.com/rekeyhq/rekey/internal/fingerprint"
	"github.com/rekeyhq/rekey/journal"
	"github.com/rekeyhq/rekey/reconcile"
	"github.com/rekeyhq/rekey/report"
)

func historyCmd(e env) *cobra.Command {
	var o options
	var limit int
	c := withOptions(&cobra.Command{
		Use:   "history [SECRET]",
		Short: "Audit trail: commits, per-secret fingerprint changes, rotations applied",
		Long: `History is the audit trail of the desired state: every commit that touched rekey.yaml or the values
file, newest first from --ref; for each, who made it, whether it is signed (by a trusted key, with
--trust-ssh or --trust-openpgp), what it did to each secret's value (by fingerprint, never a value) and
what rekey did with it, from the journal in --state-dir. With SECRET, only the commits that changed that
secret's value or that a transaction of that secret applied.`,
		Example: `  rekey history --repo /srv/stack-secrets
  rekey history db_password --limit 0 --trust-ssh /etc/rekey/trusted-signers
  rekey history --output json`,
		Args:              atMostOne,
		ValidArgsFunction: completeSecret(&o),
	}, &o, func(ctx context.Context, args []string) error {
		if limit < 0 {
			return usageError("--limit must be 0 (all) or more, got %d", limit)
		}
		return runHistory(ctx, &o, e, strings.Join(args, ""), limit)
	})
	c.Flags().IntVar(&limit, "limit", report.DefaultLimit, "show at most N commits (0: all)")
	completeWords(c, "limit")
	return c
}

func runHistory(ctx context.Context, o *options, e env, secret string, limit int) error {
	in, err := historyInput(ctx, o, e)
	if err != nil {
		return err
	}
	in.Secret, in.Limit = secret, limit
	out, red, err := report.BuildHistory(ctx, in)
	if err != nil {
		return err
	}
	if o.json() {
		return writeJSON(e.stdout, out)
	}
	var b bytes.Buffer
	report.PrintHistory(&b, out)
	_, err = io.WriteString(e.stdout, red.String(b.String()))
	return err
}

// historyInput opens what `rekey history` reads: the repository at the ref and its rekey.yaml, the age
// identities, the trusted keys (when given), the fingerprint key and the journal of the state dir.
func historyInput(ctx context.Context, o *options, e env) (report.HistoryInput, error) {
	var in report.HistoryInput
	repo, err := gitsync.Open(ctx, o.repo, gitsync.WithCacheDir(filepath.Join(o.stateDir, "repos")))
	if err != nil {
		return in, err
	}
	head, err := repo.Resolve(o.ref)
	if err != nil {
		return in, err
	}
	raw, err := repo.ReadFile(head.Hash, app.ConfigFile)
	if err != nil {
		return in, fmt.Errorf("failed to read %s from %s: %w", app.ConfigFile, repo, err)
	}
	in.Repo, in.Head = repo, head.Hash
	if in.Config, err = config.Parse(app.ConfigFile, raw); err != nil {
		return in, err
	}
	if in.Identities, err = o.app(e).Identities(); err != nil {
		return in, err
	}
	if o.trusted() {
		t, err := o.app(e).TrustedKeys()
		if err != nil {
			return in, err
		}
		in.Trust = &t
	}
	if in.FP, err = fingerprint.LoadOrCreateKey(o.stateDir); err != nil {
		return in, err
	}
	in.Records, err = allRecords(o.stateDir)
	return in, err
}

// allRecords reads every record of the state dir's journal, oldest first.
func allRecords(stateDir string) ([]reconcile.Record, error) {
	j, err := journal.Open(stateDir)
	if err != nil {
		return nil, err
	}
	defer j.Close()
	return j.All()
}
