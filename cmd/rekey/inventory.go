package main

import (
	"bytes"
	"context"
	"io"
	"slices"

	"github.com/spf13/cobra"

	"github.com/rekeyhq/rekey/app"
	"github.com/rekeyhq/rekey/report"
)

func inventoryCmd(e env) *cobra.Command {
	var o options
	var format string
	c := withOptions(&cobra.Command{
		Use:   "inventory",
		Short: "Dependency map: sources, consumers, restart order, checks, hidden dependencies",
		Long: `Inventory prints the dependency map of the desired state: for every secret, where it lives (its
sources), who reads it there (its consumers, in restart order, and how each picks up a new value), the
checks that verify a rotation, and the hidden dependencies the desired state reveals. As a table, JSON,
or a Mermaid or Graphviz DOT diagram. It changes nothing, and prints no value.`,
		Example: `  rekey inventory --repo /srv/stack-secrets
  rekey inventory --format mermaid > secrets.mmd
  rekey inventory --format dot | dot -Tsvg > secrets.svg`,
		Args: noArgs,
	}, &o, func(ctx context.Context, _ []string) error { return runInventory(ctx, &o, e, format) })
	c.Flags().StringVar(&format, "format", "", "table, json, mermaid or dot (default table; json with --output json)")
	completeWords(c, "format", report.FormatTable, report.FormatJSON, report.FormatMermaid, report.FormatDot)
	return c
}

func runInventory(ctx context.Context, o *options, e env, format string) error {
	f, err := inventoryFormat(format, o.json())
	if err != nil {
		return err
	}
	s, err := app.LoadToLook(ctx, o.app(e))
	if err != nil {
		return err
	}
	inv, err := report.BuildInventory(ctx, inventoryInput(s))
	if err != nil {
		return s.Redact.Error(err)
	}
	var b bytes.Buffer
	if err := report.RenderInventory(&b, f, inv); err != nil {
		return err
	}
	// Nothing here holds a value; the redactor is a second line of defence, as in every other output.
	_, err = io.WriteString(e.stdout, s.Redact.ForReport().String(b.String()))
	return err
}

// inventoryInput is the loaded desired state, as the inventory reads it.
func inventoryInput(s *app.Session) report.InventoryInput {
	return report.InventoryInput{Revision: s.Commit.Hash, Repo: s.Repo.String(), Config: s.Config, Project: s.Project, Desired: s.Desired}
}

// inventoryFormat reconciles --format with --output: --output json alone means json.
func inventoryFormat(format string, json bool) (string, error) {
	switch {
	case format == "" && json:
		return report.FormatJSON, nil
	case format == "":
		return report.FormatTable, nil
	case !slices.Contains([]string{report.FormatTable, report.FormatJSON, report.FormatMermaid, report.FormatDot}, format):
		return "", usageError("--format must be table, json, mermaid or dot, got %q", format)
	case json && format != report.FormatJSON:
		return "", usageError("--output json and --format %s disagree: pick one", format)
	}
	return format, nil
}
