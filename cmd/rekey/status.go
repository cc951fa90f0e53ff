package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/rekeyhq/rekey/app"
	"github.com/rekeyhq/rekey/gitsync"
)

func statusCmd(e env) *cobra.Command {
	var o options
	return withOptions(&cobra.Command{
		Use:   "status",
		Short: "Live state, unfinished transactions and last outcomes",
		Long: `Status prints, for every secret, the fingerprints of its live and desired values, whether they agree,
any rotation the journal holds open, and how the last one ended. It changes nothing. With a trust file
(--trust-ssh, --trust-openpgp) an untrusted commit is refused before anything in it is read.`,
		Example: `  rekey status --repo /srv/stack-secrets
  rekey status --output json | jq '.secrets[] | select(.state != "in-sync")'`,
		Args: noArgs,
	}, &o, func(ctx context.Context, _ []string) error { return runStatus(ctx, &o, e) })
}

func runStatus(ctx context.Context, o *options, e env) error {
	s, out, err := app.Status(ctx, o.app(e))
	if err != nil {
		return err
	}
	if o.json() {
		return writeJSON(e.stdout, map[string]any{"revision": s.Commit.Hash, "secrets": out})
	}
	fmt.Fprintf(e.stdout, "desired state at %s; compose project %s\n", gitsync.Short(s.Commit.Hash), s.Project.Name())
	for _, st := range out {
		fmt.Fprintf(e.stdout, "%-16s %-9s live %-22s desired %-22s %s\n", st.Secret, st.Kind, orNone(st.LiveFP), st.DesiredFP, st.State)
		if st.OpenTxn != nil {
			fmt.Fprintf(e.stdout, "  open transaction %s: %s since %s\n", st.OpenTxn.ID, st.OpenTxn.Phase, st.OpenTxn.Started.Format(time.RFC3339))
		}
		if st.LastOutcome != "" {
			fmt.Fprintf(e.stdout, "  last: %s at %s %s\n", st.LastOutcome, st.LastTime.Format(time.RFC3339), st.LastReason)
		}
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
