package main

import (
	"context"
	"fmt"

	"github.com/rekeyhq/rekey/app"
)

// cmdAdopt converts a PostgreSQL server whose consumers log in as the owner role itself into the
// alternating layout (see app.Adopt), printing each step.
func cmdAdopt(ctx context.Context, args []string, e env) error {
	var o options
	fs := newFlagSet("adopt", e.stderr, &o)
	pos, err := o.parseArgs(fs, args, 1)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("adopt takes exactly one secret name")
	}
	say := func(format string, args ...any) { fmt.Fprintf(e.stdout, format+"\n", args...) }
	return app.Adopt(ctx, o.app(e), pos[0], say)
}
