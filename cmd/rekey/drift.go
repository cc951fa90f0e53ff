package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/rekeyhq/rekey/app"
	"github.com/rekeyhq/rekey/gitsync"
	"github.com/rekeyhq/rekey/reconcile"
)

func driftCmd(e env) *cobra.Command {
	var o options
	return withOptions(&cobra.Command{
		Use:   "drift",
		Short: "Compare every source, container and mounted file with Git",
		Long: `Drift reads every place a secret lives (its sources, the environment of running containers, mounted
files) and compares each with the value in Git, by fingerprint. It changes nothing: exit 6 when a live
value differs while Git did not change, 7 when a place could not be read and no drift was found
elsewhere. rekey apply --heal restores Git's values.`,
		Example: `  rekey drift --repo /srv/stack-secrets
  rekey drift --output json`,
		Args: noArgs,
	}, &o, func(ctx context.Context, _ []string) error { return runDrift(ctx, &o, e) })
}

func runDrift(ctx context.Context, o *options, e env) error {
	s, drift, err := app.Drift(ctx, o.app(e))
	if err != nil {
		return err
	}
	if o.json() {
		err = writeJSON(e.stdout, driftOut{Revision: s.Commit.Hash, Project: s.Project.Name(), Places: drift})
	} else {
		printDrift(e.stdout, s, drift, time.Now())
	}
	if err != nil {
		return err
	}
	return app.DriftVerdict(drift)
}

type driftOut struct {
	Revision string            `json:"revision"`
	Project  string            `json:"project"`
	Places   []reconcile.Drift `json:"places"`
}

func printDrift(w io.Writer, s *app.Session, ds []reconcile.Drift, now time.Time) {
	fmt.Fprintf(w, "desired state at %s; compose project %s\n", gitsync.Short(s.Commit.Hash), s.Project.Name())
	fmt.Fprintf(w, "%-18s %-9s %-44s %-15s %s\n", "SECRET", "PLACE", "NAME", "STATE", "DETAIL")
	for _, d := range ds {
		name := d.Name
		if d.Container != "" {
			name += " (" + d.Container + ")"
		}
		detail := d.Reason
		if !d.Since.IsZero() {
			detail = fmt.Sprintf("for %s (started %s); %s", now.Sub(d.Since).Round(time.Second),
				d.Since.UTC().Format(time.RFC3339), d.Reason)
		}
		fmt.Fprintf(w, "%-18s %-9s %-44s %-15s %s\n", d.Secret, d.Place, name, d.State, detail)
	}
}
