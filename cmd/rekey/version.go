package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Set by the linker: -X main.version=… -X main.commit=… -X main.date=…
var version, commit, date = "dev", "", ""

func versionCmd(e env) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version, commit and build date",
		Long:    "Version prints the release, the commit it was built from, the build date and the Go version.",
		Example: "  rekey version",
		Args:    cobra.ArbitraryArgs, // ignored, as they always were
		RunE:    func(*cobra.Command, []string) error { return printVersion(e) },
	}
}

func printVersion(e env) error {
	c, d := commit, date
	if bi, ok := debug.ReadBuildInfo(); ok && c == "" {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				c = s.Value
			case "vcs.time":
				d = s.Value
			}
		}
	}
	fmt.Fprintf(e.stdout, "rekey %s (commit %s, built %s, %s)\n", version, orUnknown(c), orUnknown(d), runtime.Version())
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
