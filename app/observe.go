package app

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rekeyhq/rekey/journal"
	"github.com/rekeyhq/rekey/live"
	"github.com/rekeyhq/rekey/reconcile"
)

// Plan is what apply would do with the desired state at the ref. It runs apply's trust guard first:
// a commit apply would refuse is refused here too, before anything it names is read.
func Plan(ctx context.Context, o Options) (*Session, reconcile.Plan, error) {
	s, err := open(ctx, o)
	if err != nil {
		return nil, reconcile.Plan{}, err
	}
	j, err := journal.Open(s.Options.StateDir)
	if err != nil {
		return nil, reconcile.Plan{}, err
	}
	defer j.Close()
	if err := s.guard(j); err != nil {
		return nil, reconcile.Plan{}, err
	}
	if err := s.read(ctx); err != nil {
		return nil, reconcile.Plan{}, err
	}
	if err := takeOrphans(j, s); err != nil { // apply refuses the same, with the same next step
		return nil, reconcile.Plan{}, err
	}
	observed, err := s.observe(ctx, j)
	if err != nil {
		return nil, reconcile.Plan{}, err
	}
	s.Desired.Retry = true // what `rekey apply` would do
	return s, reconcile.MakePlan(s.Desired, observed), nil
}

// SecretStatus is one secret's live state, open transaction and last outcome.
type SecretStatus struct {
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

// Status reads the live state of every secret and what the journal says of it. It only looks.
func Status(ctx context.Context, o Options) (*Session, []SecretStatus, error) {
	s, err := LoadToLook(ctx, o)
	if err != nil {
		return nil, nil, err
	}
	j, err := journal.Open(s.Options.StateDir)
	if err != nil {
		return nil, nil, err
	}
	defer j.Close()
	if err := takeOrphans(j, s); err != nil {
		s.Desired.Orphans = nil // an orphan of an older rekey: apply refuses it; status still shows the rest
	}
	observed, err := s.observe(ctx, j)
	if err != nil {
		return nil, nil, err
	}
	var out []SecretStatus
	for _, sp := range reconcile.MakePlan(s.Desired, observed).Secrets {
		st := SecretStatus{Secret: sp.Secret, Kind: sp.Kind, LiveFP: sp.FromFP, DesiredFP: sp.ToFP,
			State: sp.Action, Note: sp.Note, OpenTxn: observed.Secrets[sp.Secret].Txn}
		if err := lastEnd(j, &st); err != nil {
			return nil, nil, err
		}
		out = append(out, st)
	}
	return s, out, nil
}

// observe reads what is live, for the use cases that only look.
func (s *Session) observe(ctx context.Context, j *journal.Journal) (reconcile.Observed, error) {
	obs := &live.Observer{Files: s.files(nil), FP: s.FP.Of, Journal: j, Now: time.Now}
	observed, err := orphanObserver{Observer: obs, Journal: j}.Observe(ctx, s.Desired)
	if err != nil {
		return reconcile.Observed{}, s.Redact.Error(err)
	}
	return observed, nil
}

func lastEnd(j *journal.Journal, st *SecretStatus) error {
	h, err := j.History(st.Secret) // the last end is the same without the folded revoked values
	if err != nil {
		return err
	}
	recs := h.Records
	for i := len(recs) - 1; i >= 0; i-- {
		if r := recs[i]; r.Type == reconcile.RecordEnd {
			st.LastOutcome, st.LastTime, st.LastReason = r.Outcome, r.Time, r.Reason
			return nil
		}
	}
	return nil
}

// PlanNotes explain what a plan's steps do not show: the server's mechanism, and services left alone.
func PlanNotes(sec reconcile.Secret) []string {
	var notes []string
	if srv := sec.Server; srv != nil {
		n := fmt.Sprintf("server %s: %s", srv.Name, srv.Mechanism)
		if srv.Service != "" && srv.Roll != reconcile.NoRoll {
			n += fmt.Sprintf("; %s reads the value too and is rolled after the revoke, when it holds only the new one", srv.Service)
		}
		notes = append(notes, n)
	}
	for _, c := range sec.Consumers {
		for _, v := range c.Via {
			if keys, ok := strings.CutPrefix(v, "bootstrap-only:"); ok {
				notes = append(notes, fmt.Sprintf("%s reads it as %s only when its data directory is created: the source is kept in sync, %s is not recreated for it (that would not change the database's password)", c.Name, keys, c.Name))
			}
		}
	}
	return notes
}
