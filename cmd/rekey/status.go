package main

import (
	"context"
	"fmt"
	"time"

	"github.com/rekeyhq/rekey/app"
)

func cmdStatus(ctx context.Context, args []string, e env) error {
	var o options
	if err := o.parse(newFlagSet("status", e.stderr, &o), args); err != nil {
		return err
	}
	s, out, err := app.Status(ctx, o.app(e))
	if err != nil {
		return err
	}
	if o.json() {
		return writeJSON(e.stdout, map[string]any{"revision": s.Commit.Hash, "secrets": out})
	}
	fmt.Fprintf(e.stdout, "desired state at %s; compose project %s\n", app.Short(s.Commit.Hash), s.Project.Name())
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
