package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rekeyhq/rekey/app"
)

// adoptCmd converts a PostgreSQL server whose consumers log in as the owner role itself into the
// alternating layout (see app.Adopt), printing each step.
func adoptCmd(e env) *cobra.Command {
	var o options
	return withOptions(&cobra.Command{
		Use:   "adopt SECRET",
		Short: "Move a PostgreSQL login from its owner role to alternating login roles",
		Long: `Adopt converts a PostgreSQL server whose consumers log in as the owner role itself into the
alternating layout, without downtime and without changing the password: the first login role gets the
owner's password, the consumers move to it (its name written to login_env, then restarted in order,
health-gated), and the owner loses LOGIN once no session uses it. Every step is safe to repeat: after an
interruption, or when a session still logs in as the owner (exit 4), run it again.`,
		Example:           `  rekey adopt db_password --repo /srv/stack-secrets --age-key-file /etc/rekey/age.key`,
		Args:              oneSecret,
		ValidArgsFunction: completeSecret(&o),
	}, &o, func(ctx context.Context, args []string) error {
		say := func(format string, args ...any) { fmt.Fprintf(e.stdout, format+"\n", args...) }
		return app.Adopt(ctx, o.app(e), args[0], say)
	})
}
