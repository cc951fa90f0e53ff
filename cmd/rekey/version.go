package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set by the linker: -X main.version=… -X main.commit=… -X main.date=…
var version, commit, date = "dev", "", ""

func cmdVersion(_ context.Context, _ []string, e env) error {
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
