package live

import (
	"context"
	"time"

	"github.com/rekeyhq/rekey/reconcile"
)

// RecordReader returns a secret's journal records, oldest first.
type RecordReader interface {
	Records(secret string) ([]reconcile.Record, error)
}

// HistoryReader is optionally implemented by a RecordReader (*journal.Journal does): a secret's records
// with the values its folded past revoked kept as a set, not as records (see reconcile.History).
type HistoryReader interface {
	History(secret string) (reconcile.History, error)
}

// historyOf reads a secret's history the compact way when r can, and as its records otherwise.
func historyOf(r RecordReader, secret string) (reconcile.History, error) {
	if hr, ok := r.(HistoryReader); ok {
		return hr.History(secret)
	}
	recs, err := r.Records(secret)
	return reconcile.History{Records: recs}, err
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
	values, err := o.Files.ReadValues(ctx, AllLocations(d))
	if err != nil {
		return obs, err
	}
	for _, s := range d.Secrets {
		st := reconcile.SecretState{Current: o.fingerprints(s.Current, values), Previous: o.fingerprints(s.Previous, values)}
		o.derived(s, values, &st)
		h, err := historyOf(o.Journal, s.Name)
		if err != nil {
			return obs, err
		}
		recs := h.Records
		st.Txn = reconcile.Replay(recs)
		st.Revoked = h.Revoked(s.DesiredFP)
		st.RolledBack = reconcile.LastRolledBack(recs)
		st.Applied = reconcile.LastApplied(recs)
		st.RerollRolledBack = reconcile.LastRerollRolledBack(recs)
		st.Pending = reconcile.PendingRevocations(recs)
		if o.Drift != nil && (s.Heal || d.Heal) {
			if st.Stale, err = o.Drift.Stale(ctx, s); err != nil {
				return obs, err
			}
		}
		obs.Secrets[s.Name] = st
	}
	return obs, nil
}

// fingerprints hashes the values read at locs; a missing or empty value has no fingerprint.
func (o *Observer) fingerprints(locs []reconcile.Location, values map[reconcile.Location]string) map[reconcile.Location]string {
	out := map[reconcile.Location]string{}
	for _, l := range locs {
		if v := values[l]; v != "" {
			out[l] = o.FP(v)
		}
	}
	return out
}

// AllLocations lists every place the values of d live, current and previous.
func AllLocations(d reconcile.Desired) []reconcile.Location {
	var out []reconcile.Location
	for _, s := range d.Secrets {
		out = append(append(out, s.Current...), s.Previous...)
	}
	return out
}

// derived replaces the fingerprints of the secret's derived locations, which hold a form of the value,
// with the fingerprint of the value they carry, and keeps the form's own fingerprint for plan.
func (o *Observer) derived(s reconcile.Secret, values map[reconcile.Location]string, st *reconcile.SecretState) {
	for _, l := range s.Current {
		if l.Form == "" {
			continue
		}
		if st.Forms == nil {
			st.Forms = map[reconcile.Location]string{}
		}
		form := values[l]
		if form == "" {
			delete(st.Current, l)
			continue
		}
		st.Forms[l] = o.FP(form)
		st.Current[l] = o.Files.Forms.carried(l, form, o.FP, s.DesiredFP)
	}
}
