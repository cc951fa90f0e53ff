package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/rekeyhq/rekey/config"
	"github.com/rekeyhq/rekey/gitsync"
	"github.com/rekeyhq/rekey/internal/fingerprint"
	"github.com/rekeyhq/rekey/journal"
	"github.com/rekeyhq/rekey/reconcile"
	"github.com/rekeyhq/rekey/report"
)

func cmdHistory(ctx context.Context, args []string, e env) error {
	var o options
	fs := newFlagSet("history", e.stderr, &o)
	limit := fs.Int("limit", report.DefaultLimit, "show at most N commits (0: all)")
	pos, err := o.parseArgs(fs, args, 1)
	if err != nil {
		return err
	}
	var secret string
	if len(pos) == 1 {
		secret = pos[0]
	}
	if *limit < 0 {
		return usageError("--limit must be 0 (all) or more, got %d", *limit)
	}
	in, err := historyInput(ctx, &o, e)
	if err != nil {
		return err
	}
	in.Secret, in.Limit = secret, *limit
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
	raw, err := repo.ReadFile(head.Hash, configFile)
	if err != nil {
		return in, fmt.Errorf("failed to read %s from %s: %w", configFile, repo, err)
	}
	in.Repo, in.Head = repo, head.Hash
	if in.Config, err = config.Parse(configFile, raw); err != nil {
		return in, err
	}
	if in.Identities, err = identities(o, e); err != nil {
		return in, err
	}
	if o.trustOpenPGP != "" || o.trustSSH != "" {
		t, err := o.trustedKeys()
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
