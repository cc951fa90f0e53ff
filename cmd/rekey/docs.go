package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// docsCmd writes the Markdown reference (docs/reference/, committed; a test keeps it in step with the
// commands) and, for packages, the man pages, both generated from the command tree.
func docsCmd(e env) *cobra.Command {
	var mdDir, manDir string
	c := &cobra.Command{
		Use:   "docs",
		Short: "Generate the Markdown reference and the man pages from the commands",
		Long:  "Docs writes one Markdown file (--markdown-dir) and one man page (--man-dir) per command.",
		Example: `  rekey docs --markdown-dir docs/reference
  rekey docs --man-dir packaging/man`,
		Hidden: true,
		Args:   noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if mdDir == "" && manDir == "" {
				return usageError("docs needs --markdown-dir DIR or --man-dir DIR")
			}
			return writeDocs(c.Root(), mdDir, manDir, e.getenv)
		},
	}
	c.Flags().StringVar(&mdDir, "markdown-dir", "", "directory for the Markdown reference")
	c.Flags().StringVar(&manDir, "man-dir", "", "directory for the man pages (section 1)")
	completeDirs(c, "markdown-dir", "man-dir")
	return c
}

func writeDocs(root *cobra.Command, mdDir, manDir string, getenv func(string) string) error {
	if mdDir != "" {
		if err := os.MkdirAll(mdDir, 0o755); err != nil {
			return err
		}
		if err := doc.GenMarkdownTree(root, mdDir); err != nil {
			return fmt.Errorf("failed to write the Markdown reference: %w", err)
		}
	}
	if manDir != "" {
		if err := os.MkdirAll(manDir, 0o755); err != nil {
			return err
		}
		date, err := manDate(getenv("SOURCE_DATE_EPOCH"))
		if err != nil {
			return err
		}
		hdr := &doc.GenManHeader{Section: "1", Source: "rekey " + version, Manual: "rekey manual", Date: &date}
		if err := doc.GenManTree(root, hdr, manDir); err != nil {
			return fmt.Errorf("failed to write the man pages: %w", err)
		}
	}
	return nil
}

// manDate is the date printed in the man pages: $SOURCE_DATE_EPOCH for reproducible packages, else now.
func manDate(epoch string) (time.Time, error) {
	if epoch == "" {
		return time.Now().UTC(), nil
	}
	sec, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil {
		return time.Time{}, usageError("SOURCE_DATE_EPOCH must be seconds since 1970, got %q", epoch)
	}
	return time.Unix(sec, 0).UTC(), nil
}
