package main

import (
	"bytes"
	"context"
	"io"
	"slices"

	"github.com/rekeyhq/rekey/report"
)

func cmdInventory(ctx context.Context, args []string, e env) error {
	var o options
	fs := newFlagSet("inventory", e.stderr, &o)
	format := fs.String("format", "", "table, json, mermaid or dot (default table; json with --output json)")
	if err := o.parse(fs, args); err != nil {
		return err
	}
	f, err := inventoryFormat(*format, o.json())
	if err != nil {
		return err
	}
	s, err := load(ctx, &o, e)
	if err != nil {
		return err
	}
	inv, err := report.BuildInventory(ctx, inventoryInput(s))
	if err != nil {
		return s.redact.Error(err)
	}
	var b bytes.Buffer
	if err := report.RenderInventory(&b, f, inv); err != nil {
		return err
	}
	// Nothing here holds a value; the redactor is a second line of defence, as in every other output.
	_, err = io.WriteString(e.stdout, s.redact.String(b.String()))
	return err
}

// inventoryInput is the loaded desired state, as the inventory reads it.
func inventoryInput(s *session) report.InventoryInput {
	return report.InventoryInput{Revision: s.commit.Hash, Repo: s.repo.String(), Config: s.cfg, Project: s.project, Desired: s.desired}
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
