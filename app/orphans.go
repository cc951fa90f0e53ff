package app

import (
	"context"
	"fmt"
	"slices"

	"github.com/rekeyhq/rekey/internal/redact"
	"github.com/rekeyhq/rekey/journal"
	"github.com/rekeyhq/rekey/live"
	"github.com/rekeyhq/rekey/reconcile"
)

// takeOrphans finds the secrets the journal holds an unfinished transaction of that are no longer
// declared (renamed or removed from rekey.yaml) and hands them to the planner (Desired.Orphans), which
// finishes or rolls each back from what its begin record says it touches and lets the secrets that do
// not overlap it go on (reconcile/orphan.go). A transaction begun by an older rekey records nothing of
// what it touched: its locations may now belong to a renamed secret, so the apply stops, as it always did.
func takeOrphans(j *journal.Journal, s *Session) error {
	names, err := j.Secrets() // the index: no record is read for a declared secret
	if err != nil {
		return err
	}
	declared := map[string]bool{}
	for _, sec := range s.Desired.Secrets {
		declared[sec.Name] = true
	}
	for _, sk := range s.Skipped { // declared, only invalid now: left alone, not an orphan
		declared[sk.Name] = true
	}
	s.Desired.Orphans = nil
	for _, name := range names {
		if declared[name] {
			continue
		}
		t, err := j.Txn(name)
		if err != nil {
			return err
		}
		if t == nil {
			continue
		}
		for k := t; k != nil; k = k.Kept {
			if k.Footprint == nil {
				return fmt.Errorf("secret %s has an unfinished transaction %s (%s) but is no longer in %s, and the journal does not record what it touches (begun by an older rekey): put its declaration back and run apply to finish it, then remove it",
					name, k.ID, k.Phase, ConfigFile)
			}
		}
		s.Desired.Orphans = append(s.Desired.Orphans, name)
		s.redactOrphan(t)
	}
	return nil
}

// redactOrphan adds to Redact the values live at an orphan's locations: they are no declared secret's,
// so read did not see them, and its rollback or finish handles them (a driver, a roll, a restore may
// quote them). Best effort: a location that cannot be read now holds nothing to show.
func (s *Session) redactOrphan(t *reconcile.Txn) {
	files := live.Files{} // only the last path component checked for a symlink: a read, never a write
	if s.Project != nil {
		files.Root = s.Project.Dir()
	}
	var more []string
	for k := t; k != nil; k = k.Kept {
		for _, l := range slices.Concat(k.Footprint.Current, k.Footprint.Previous) {
			if v, err := files.ReadValue(context.Background(), reconcile.Location(l)); err == nil && v != "" {
				more = append(more, v)
			}
		}
	}
	if len(more) > 0 {
		s.redacted = append(s.redacted, more...)
		s.Redact = redact.New(s.redacted...)
	}
}

// txnReader reads a secret's unfinished transaction from the journal.
type txnReader interface {
	Txn(secret string) (*reconcile.Txn, error)
}

// orphanObserver adds to what its Observer sees the open transaction of every orphan, read again at
// every round: the rounds after the one that ended it must see it ended.
type orphanObserver struct {
	reconcile.Observer
	Journal txnReader
}

// Observe implements reconcile.Observer.
func (o orphanObserver) Observe(ctx context.Context, d reconcile.Desired) (reconcile.Observed, error) {
	obs, err := o.Observer.Observe(ctx, d)
	if err != nil || len(d.Orphans) == 0 {
		return obs, err
	}
	if obs.Secrets == nil {
		obs.Secrets = map[string]reconcile.SecretState{}
	}
	for _, name := range d.Orphans {
		t, err := o.Journal.Txn(name)
		if err != nil {
			return obs, fmt.Errorf("failed to read the journal of %s: %w", name, err)
		}
		obs.Secrets[name] = reconcile.SecretState{Txn: t}
	}
	return obs, nil
}
