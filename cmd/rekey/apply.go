package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/rekeyhq/rekey/app"
	"github.com/rekeyhq/rekey/reconcile"
)

func applyCmd(e env) *cobra.Command {
	var o options
	c := withOptions(&cobra.Command{
		Use:   "apply",
		Short: "Rotate what differs from Git, verify, then drop old values",
		Long: `Apply brings the stack to the desired state: for every secret whose value in Git differs from the live
one it stages the new credential, updates its sources, restarts the consumers in order behind their
health checks, verifies, and only then revokes the old value. A failed step rolls the secret back; the
journal in --state-dir lets a later apply finish or undo a rotation interrupted by a crash.

A value whose last rotation rolled back is tried again. Live values that drifted while Git did not
change are reported (exit 6) and left alone unless --heal is given.`,
		Example: `  rekey apply --repo /srv/stack-secrets --age-key-file /etc/rekey/age.key
  rekey apply --repo /srv/stack-secrets --trust-ssh /etc/rekey/trusted-signers
  rekey apply --heal --quiet`,
		Args: noArgs,
	}, &o, func(ctx context.Context, _ []string) error { return runApply(ctx, &o, e) })
	c.Flags().BoolVar(&o.heal, "heal", false, "restore Git's value where the live value drifted while Git did not change (default: report drift, change nothing)")
	return c
}

func runApply(ctx context.Context, o *options, e env) error {
	o.retry = true // an operator asking again means: try again
	s, results, err := app.Apply(ctx, o.app(e))
	if s == nil {
		return err
	}
	if o.json() {
		if werr := writeJSON(e.stdout, applyOut{Revision: s.Commit.Hash, Results: results}); werr != nil {
			return werr
		}
	} else {
		printResults(e.stdout, results)
	}
	return s.Outcome(results, err)
}

type applyOut struct {
	Revision string             `json:"revision"`
	Results  []reconcile.Result `json:"results"`
}
