package journal

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/reconcile"
)

// rotation is the records of one finished rotation of secret, shaped like the executor's (24 records:
// phases, intents and done records of two sources and two consumers, the verification and the
// finalize), from fingerprint n-1 to n.
func rotation(secret string, n int, at time.Time, outcome reconcile.Outcome) []reconcile.Record {
	txn := fmt.Sprintf("%s-%08d-5f3a9c", at.Format("20060102T150405Z"), n)
	rev := fmt.Sprintf("%040x", n*7919)
	from, to := fp(secret, n-1), fp(secret, n)
	base := reconcile.Record{Txn: txn, Secret: secret, Revision: rev}
	var out []reconcile.Record
	add := func(r reconcile.Record) {
		r.Txn, r.Secret, r.Revision = base.Txn, base.Secret, base.Revision
		r.Time = at.Add(time.Duration(len(out)) * time.Second)
		out = append(out, r)
	}
	add(reconcile.Record{Type: reconcile.RecordBegin, FromFP: from, ToFP: to})
	add(reconcile.Record{Type: reconcile.RecordPhase, Phase: reconcile.PhaseWriting})
	for _, src := range []string{"stack/.env#APP_KEY", "stack/config/app.yaml#key"} {
		add(reconcile.Record{Type: reconcile.RecordIntent, Step: "write " + src, FromFP: from, ToFP: to})
		add(reconcile.Record{Type: reconcile.RecordDone, Step: "write " + src})
	}
	add(reconcile.Record{Type: reconcile.RecordPhase, Phase: reconcile.PhaseRolling})
	for _, c := range []string{"app", "worker"} {
		add(reconcile.Record{Type: reconcile.RecordIntent, Step: "roll " + c, Consumer: c, Roll: reconcile.RollAction("recreate")})
		add(reconcile.Record{Type: reconcile.RecordDone, Step: "roll " + c, Containers: []string{"demo-" + c + "-1", "demo-" + c + "-2"}})
		add(reconcile.Record{Type: reconcile.RecordIntent, Step: "verify " + c})
		add(reconcile.Record{Type: reconcile.RecordDone, Step: "verify " + c})
	}
	add(reconcile.Record{Type: reconcile.RecordIntent, Step: "check http"})
	add(reconcile.Record{Type: reconcile.RecordDone, Step: "check http"})
	add(reconcile.Record{Type: reconcile.RecordPhase, Phase: reconcile.PhaseVerified, FinalizeAfter: at.Add(time.Hour)})
	add(reconcile.Record{Type: reconcile.RecordPhase, Phase: reconcile.PhaseFinalizing})
	add(reconcile.Record{Type: reconcile.RecordIntent, Step: "drop previous", FromFP: from})
	add(reconcile.Record{Type: reconcile.RecordDone, Step: "drop previous"})
	if outcome == reconcile.OutcomeRolledBack {
		add(reconcile.Record{Type: reconcile.RecordFailed, Step: "check http", Reason: "status 502"})
	}
	add(reconcile.Record{Type: reconcile.RecordIntent, Step: "revoke old", FromFP: from})
	add(reconcile.Record{Type: reconcile.RecordDone, Step: "revoke old"})
	add(reconcile.Record{Type: reconcile.RecordEnd, Outcome: outcome, Reason: "ok"})
	return out
}

func fp(secret string, n int) string {
	return fmt.Sprintf("hmac:%016x", uint64(len(secret))<<40|uint64(n))
}

// synthSecrets is the mix of the soak: the app key every time, Redis every 5th, PostgreSQL every 10th.
func synthSecrets(i int) []string {
	out := []string{"app_key"}
	if i%5 == 0 {
		out = append(out, "redis_password")
	}
	if i%10 == 0 {
		out = append(out, "pg_password")
	}
	return out
}

// writeRotations records n rotations of the soak's mix (starting at rotation first), each followed by
// the Drop of its stash as the executor does, and returns every record written.
func writeRotations(tb testing.TB, j *Journal, first, n int) []reconcile.Record {
	tb.Helper()
	ctx := context.Background()
	var all []reconcile.Record
	for i := first; i < first+n; i++ {
		at := t0.Add(time.Duration(i) * time.Hour)
		for _, s := range synthSecrets(i) {
			outcome := reconcile.OutcomeRotated
			if i%7 == 3 {
				outcome = reconcile.OutcomeRolledBack
			}
			recs := rotation(s, i, at, outcome)
			for _, r := range recs {
				if err := j.Record(ctx, r); err != nil {
					tb.Fatal(err)
				}
			}
			if err := j.Drop(ctx, recs[0].Txn); err != nil {
				tb.Fatal(err)
			}
			all = append(all, recs...)
		}
	}
	return all
}

func mustJSON(tb testing.TB, r reconcile.Record) []byte {
	tb.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
