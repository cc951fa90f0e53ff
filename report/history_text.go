package report

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/rekeyhq/rekey/gitsync"
)

// PrintHistory writes one block per commit, newest first.
func PrintHistory(w io.Writer, h History) {
	what := "secrets"
	if h.Secret != "" {
		what = "secret " + h.Secret
	}
	fmt.Fprintf(w, "history of %s in %s at %s (commits touching %s)\n", what, h.Repo, gitsync.Short(h.Head), strings.Join(h.Paths, ", "))
	if len(h.Commits) == 0 {
		fmt.Fprintln(w, "\nno commits")
	}
	for _, c := range h.Commits {
		fmt.Fprintf(w, "\ncommit %s  %s\n", gitsync.Short(c.Hash), changeLabel(c.Change))
		fmt.Fprintf(w, "  author:    %s  %s\n", c.Author, c.AuthorDate.Format(time.RFC3339))
		if c.Committer != c.Author || !c.Date.Equal(c.AuthorDate) {
			fmt.Fprintf(w, "  committer: %s  %s\n", c.Committer, c.Date.Format(time.RFC3339))
		}
		fmt.Fprintf(w, "  signature: %s\n", c.Signature)
		fmt.Fprintf(w, "  message:   %s\n", c.Subject)
		if c.Error != "" {
			fmt.Fprintf(w, "  error:     %s\n", c.Error)
		}
		for _, sc := range c.Secrets {
			line := fmt.Sprintf("  %-16s %-9s", sc.Secret, sc.Change)
			switch sc.Change {
			case secretChanged:
				line += fmt.Sprintf(" %s → %s", sc.FromFP, sc.ToFP)
			case secretRemoved:
				line += " " + sc.FromFP
			default:
				line += " " + sc.ToFP
			}
			fmt.Fprintln(w, line)
		}
		if len(c.Transactions) == 0 && c.Change != commitEnvelope && c.Change != commitConfig {
			fmt.Fprintln(w, "  not applied by rekey (no journal record of this commit in this state dir)")
		}
		for _, t := range c.Transactions {
			printTxn(w, c.Hash, t)
		}
	}
	if !h.Complete {
		fmt.Fprintf(w, "\n(stopped after %d commits: older ones may exist, raise --limit)\n", len(h.Commits))
	}
}

func changeLabel(change string) string {
	switch change {
	case commitInitial:
		return "initial: secrets added"
	case commitSecrets:
		return "secrets changed"
	case commitEnvelope:
		return "envelope-only: values file re-encrypted, no value changed (no restarts)"
	case commitConfig:
		return "config-only: no value changed"
	}
	return "could not be read"
}

func printTxn(w io.Writer, commit string, t Txn) {
	const ts = time.RFC3339
	line := fmt.Sprintf("  applied %s to %s", t.ID, t.Secret)
	if t.FromFP != "" || t.ToFP != "" {
		line += fmt.Sprintf(" (%s → %s)", orNone(t.FromFP), orNone(t.ToFP))
	}
	if !t.Began.IsZero() {
		line += " at " + t.Began.Format(ts)
	}
	if t.Revision != commit {
		line += " from revision " + gitsync.Short(t.Revision)
	}
	fmt.Fprintln(w, line)
	// The steps in the order they happened: a rollback's rolls come after the failure that caused it.
	type event struct {
		at   time.Time
		text string
	}
	var events []event
	for _, r := range t.Rolls {
		text := fmt.Sprintf("%s %s (%s)", r.Action, r.Consumer, r.During)
		if len(r.Containers) > 0 {
			text += " → container " + strings.Join(r.Containers, ", ")
		}
		events = append(events, event{r.Time, text})
	}
	for _, f := range t.Failures {
		events = append(events, event{f.Time, "failed: " + orNone(f.Reason)})
	}
	if !t.Verified.IsZero() {
		text := "verified by every consumer"
		if !t.FinalizeAfter.IsZero() {
			text += ", previous value kept until " + t.FinalizeAfter.Format(ts)
		}
		events = append(events, event{t.Verified, text})
	}
	if !t.Finalizing.IsZero() {
		events = append(events, event{t.Finalizing, "finalize: dropping the old value"})
	}
	if !t.PendingSince.IsZero() {
		events = append(events, event{t.PendingSince, "pending revocation: the old value must be revoked at the provider"})
	}
	if !t.RevokedSeen.IsZero() {
		events = append(events, event{t.RevokedSeen, "revocation seen: the old value no longer logs in"})
	}
	sort.SliceStable(events, func(i, j int) bool { return events[i].at.Before(events[j].at) })
	for _, ev := range events {
		fmt.Fprintf(w, "    %s  %s\n", ev.at.Format(ts), ev.text)
	}
	switch {
	case t.Outcome != "":
		line := fmt.Sprintf("    %s  outcome: %s", t.Ended.Format(ts), t.Outcome)
		if t.Reason != "" {
			line += ": " + t.Reason
		}
		fmt.Fprintln(w, line)
	case t.OpenPhase != "":
		fmt.Fprintf(w, "    still open: %s\n", t.OpenPhase)
	}
}
