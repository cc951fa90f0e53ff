package engine

import (
	"context"
	"time"

	"github.com/rekeyhq/rekey/reconcile"
)

// RecordReader returns a secret's journal records, oldest first.
type RecordReader interface {
	Records(secret string) ([]reconcile.Record, error)
}

// Records is a copy of the journal's records by secret, so that a long read of live state (a drift scan)
// need not hold the journal's lock.
type Records map[string][]reconcile.Record

// RecordsOf groups records by secret, oldest first as given.
func RecordsOf(all []reconcile.Record) Records {
	out := Records{}
	for _, r := range all {
		out[r.Secret] = append(out[r.Secret], r)
	}
	return out
}

// Records implements RecordReader.
func (r Records) Records(secret string) ([]reconcile.Record, error) { return r[secret], nil }

// Observer reads fingerprints at every location, the journal's unfinished transactions and whether the
// desired value was revoked before. Values are hashed and dropped at once.
type Observer struct {
	Files   Files
	FP      func(string) string
	Journal RecordReader
	Now     func() time.Time
	// Drift, when set, finds the stale consumers of the secrets that heal drift (see SecretState.Stale).
	Drift *DriftScanner
}

// Observe implements reconcile.Observer.
func (o *Observer) Observe(ctx context.Context, d reconcile.Desired) (reconcile.Observed, error) {
	obs := reconcile.Observed{Now: o.Now(), Secrets: map[string]reconcile.SecretState{}}
	for _, s := range d.Secrets {
		st := reconcile.SecretState{Current: map[reconcile.Location]string{}, Previous: map[reconcile.Location]string{}}
		if err := o.fingerprints(ctx, s.Current, st.Current); err != nil {
			return obs, err
		}
		if err := o.fingerprints(ctx, s.Previous, st.Previous); err != nil {
			return obs, err
		}
		recs, err := o.Journal.Records(s.Name)
		if err != nil {
			return obs, err
		}
		st.Txn = reconcile.Replay(recs)
		st.Revoked = reconcile.Revoked(recs)[s.DesiredFP]
		st.RolledBack = reconcile.LastRolledBack(recs)
		st.Applied = reconcile.LastApplied(recs)
		st.RerollRolledBack = reconcile.LastRerollRolledBack(recs)
		if o.Drift != nil && (s.Heal || d.Heal) {
			if st.Stale, err = o.Drift.Stale(ctx, s); err != nil {
				return obs, err
			}
		}
		obs.Secrets[s.Name] = st
	}
	return obs, nil
}

func (o *Observer) fingerprints(ctx context.Context, locs []reconcile.Location, into map[reconcile.Location]string) error {
	for _, l := range locs {
		v, err := o.Files.ReadValue(ctx, l)
		if err != nil {
			return err
		}
		if v != "" {
			into[l] = o.FP(v)
		}
	}
	return nil
}
