package live

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/journal"
	"github.com/rekeyhq/rekey/reconcile"
)

// TestObserverRevokedFromFoldedHistory checks that the observer, reading a folded journal's compact
// history, still refuses a value revoked long ago (its records folded into a set), as it does over the
// expanded records, and does not refuse the value last applied.
func TestObserverRevokedFromFoldedHistory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	secrets := [3]string{"app_key", "redis_password", "pg_password"}
	if _, err := journal.WriteSyntheticHistory(dir, secrets, 300, time.Now()); err != nil {
		t.Fatal(err)
	}
	j, err := journal.Open(dir, journal.WithRetention(2))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	h, err := j.History("app_key")
	if err != nil {
		t.Fatal(err)
	}
	if len(h.FoldedRevoked) == 0 {
		t.Fatal("the journal folded no revoked value")
	}
	full, err := j.Records("app_key")
	if err != nil {
		t.Fatal(err)
	}
	old, applied := h.FoldedRevoked[0], reconcile.LastApplied(full)
	expanded := Records{"app_key": full}
	for _, c := range []struct {
		fp   string
		want bool
	}{{old, true}, {applied, false}} {
		d := reconcile.Desired{Secrets: []reconcile.Secret{{Name: "app_key", DesiredFP: c.fp}}}
		for name, r := range map[string]RecordReader{"journal": j, "expanded records": expanded} {
			o := &Observer{FP: func(v string) string { return v }, Journal: r, Now: time.Now}
			obs, err := o.Observe(context.Background(), d)
			if err != nil {
				t.Fatal(err)
			}
			st := obs.Secrets["app_key"]
			if st.Revoked != c.want || st.Applied != applied {
				t.Errorf("%s, desired %s: revoked %v applied %q, want %v %q", name, c.fp, st.Revoked, st.Applied, c.want, applied)
			}
		}
	}
}
