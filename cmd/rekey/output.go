package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rekeyhq/rekey/reconcile"
)

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// progress prints one line per finished step: what, for which secret, how long, and the result.
func progress(w io.Writer) func(reconcile.Event) {
	return func(ev reconcile.Event) {
		if ev.Status == "start" {
			return
		}
		line := fmt.Sprintf("%s  %-16s %-48s %s", ev.Time.Format("15:04:05.000"), ev.Secret, ev.Step, ev.Status)
		if ev.Elapsed > 0 {
			line += fmt.Sprintf(" (%s)", ev.Elapsed.Round(10*time.Millisecond))
		}
		if ev.Err != "" {
			line += ": " + ev.Err
		}
		fmt.Fprintln(w, line)
	}
}

func printResults(w io.Writer, rs []reconcile.Result) {
	for _, r := range rs {
		line := fmt.Sprintf("%-16s %-16s", r.Secret, r.Outcome)
		switch {
		case r.Outcome == reconcile.OutcomeRolledBack || r.Outcome == reconcile.OutcomeFailed || r.Outcome == reconcile.OutcomeBlocked:
			line += fmt.Sprintf(" kept %s, tried %s", orNone(r.FromFP), r.ToFP)
		case r.FromFP != r.ToFP && r.FromFP != "":
			line += fmt.Sprintf(" %s → %s", r.FromFP, r.ToFP)
		case r.ToFP != "":
			line += " " + r.ToFP
		}
		if r.Note != "" {
			line += "  (" + r.Note + ")"
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
		if r.Reason != "" {
			fmt.Fprintf(w, "  reason: %s\n", r.Reason)
		}
	}
}
