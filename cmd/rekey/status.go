package main

import (
	"context"
	"fmt"
	"time"

	"github.com/rekeyhq/rekey/journal"
	"github.com/rekeyhq/rekey/reconcile"
)

type secretStatus struct {
	Secret      string            `json:"secret"`
	Kind        reconcile.Kind    `json:"kind"`
	LiveFP      string            `json:"live_fp,omitempty"`
	DesiredFP   string            `json:"desired_fp"`
	State       reconcile.Action  `json:"state"`
	Note        string            `json:"note,omitempty"`
	OpenTxn     *reconcile.Txn    `json:"open_txn,omitempty"`
	LastOutcome reconcile.Outcome `json:"last_outcome,omitempty"`
	LastTime    time.Time         `json:"last_time,omitzero"`
	LastReason  string            `json:"last_reason,omitempty"`
}

func cmdStatus(ctx context.Context, args []string, e env) error {
	var o options
	if err := o.parse(newFlagSet("status", e.stderr, &o), args); err != nil {
		return err
	}
	s, j, observed, err := observe(ctx, &o, e)
	if err != nil {
		return err
	}
	defer j.Close()
	var out []secretStatus
	for _, sp := range reconcile.MakePlan(s.desired, observed).Secrets {
		st := secretStatus{Secret: sp.Secret, Kind: sp.Kind, LiveFP: sp.FromFP, DesiredFP: sp.ToFP,
			State: sp.Action, Note: sp.Note, OpenTxn: observed.Secrets[sp.Secret].Txn}
		if err := lastEnd(j, &st); err != nil {
			return err
		}
		out = append(out, st)
	}
	if o.json() {
		return writeJSON(e.stdout, map[string]any{"revision": s.commit.Hash, "secrets": out})
	}
	fmt.Fprintf(e.stdout, "desired state at %s; compose project %s\n", short(s.commit.Hash), s.project.Name())
	for _, st := range out {
		fmt.Fprintf(e.stdout, "%-16s %-9s live %-22s desired %-22s %s\n", st.Secret, st.Kind, orNone(st.LiveFP), st.DesiredFP, st.State)
		if st.OpenTxn != nil {
			fmt.Fprintf(e.stdout, "  open transaction %s: %s since %s\n", st.OpenTxn.ID, st.OpenTxn.Phase, st.OpenTxn.Started.Format(time.RFC3339))
		}
		if st.LastOutcome != "" {
			fmt.Fprintf(e.stdout, "  last: %s at %s %s\n", st.LastOutcome, st.LastTime.Format(time.RFC3339), st.LastReason)
		}
	}
	return nil
}

func lastEnd(j *journal.Journal, st *secretStatus) error {
	recs, err := j.Records(st.Secret)
	if err != nil {
		return err
	}
	for i := len(recs) - 1; i >= 0; i-- {
		if r := recs[i]; r.Type == reconcile.RecordEnd {
			st.LastOutcome, st.LastTime, st.LastReason = r.Outcome, r.Time, r.Reason
			return nil
		}
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
