package main

import (
	"context"

	"github.com/rekeyhq/rekey/app"
	"github.com/rekeyhq/rekey/reconcile"
)

func cmdApply(ctx context.Context, args []string, e env) error {
	var o options
	fs := newFlagSet("apply", e.stderr, &o)
	fs.BoolVar(&o.heal, "heal", false, "restore Git's value where the live value drifted while Git did not change (default: report drift, change nothing)")
	if err := o.parse(fs, args); err != nil {
		return err
	}
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
