package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/rekeyhq/rekey/reconcile"
)

// Synthetic history, for the benchmarks only (BenchmarkYearJournal, bench/ B6's year projection): the
// journal a long-running agent would have written, without running it for a year. Nothing in rekey calls
// these.

// SyntheticRotation returns the records of one finished rotation of secret, shaped like the executor's
// (24 records: phases, intents and done records of two sources and two consumers, the verification and
// the finalize; one more, a failure, when it rolled back), from fingerprint n-1 to n. The fingerprints
// are made up ("hmac:" and a counter): they match no real value.
func SyntheticRotation(secret string, n int, at time.Time, outcome reconcile.Outcome) []reconcile.Record {
	txn := fmt.Sprintf("%s-%08d-5f3a9c", at.Format("20060102T150405Z"), n)
	rev := fmt.Sprintf("%040x", n*7919)
	from, to := syntheticFP(secret, n-1), syntheticFP(secret, n)
	var out []reconcile.Record
	add := func(r reconcile.Record) {
		r.Txn, r.Secret, r.Revision = txn, secret, rev
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

func syntheticFP(secret string, n int) string {
	return fmt.Sprintf("hmac:%016x", uint64(len(secret))<<40|uint64(n))
}

// SyntheticMix names which of the soak's three secrets rotate at iteration i (from 1): the first every
// time, the second every 5th, the third every 10th.
func SyntheticMix(secrets [3]string, i int) []string {
	out := []string{secrets[0]}
	if i%5 == 0 {
		out = append(out, secrets[1])
	}
	if i%10 == 0 {
		out = append(out, secrets[2])
	}
	return out
}

// WriteSyntheticHistory creates stateDir/journal.db (it must not exist yet) holding iterations of the
// soak's mix of secrets, one an hour ending at end, every 7th rolled back, in the layout of earlier
// versions (no index, no retention: what a year of them left), written in one bbolt transaction. No
// applied commit is recorded. The first Open indexes it and applies the retention. It returns the number
// of records written.
func WriteSyntheticHistory(stateDir string, secrets [3]string, iterations int, end time.Time) (int, error) {
	path := filepath.Join(stateDir, dbName)
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("%s: a synthetic history needs a new journal", path)
	}
	if err := os.MkdirAll(stateDir, dirMode); err != nil {
		return 0, err
	}
	db, err := bolt.Open(path, fileMode, nil)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	n := 0
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketRecords, bucketStash, bucketMeta} {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		b := tx.Bucket(bucketRecords)
		for i := 1; i <= iterations; i++ {
			at := end.Add(-time.Duration(iterations-i+1) * time.Hour)
			for _, s := range SyntheticMix(secrets, i) {
				outcome := reconcile.OutcomeRotated
				if i%7 == 3 {
					outcome = reconcile.OutcomeRolledBack
				}
				for _, r := range SyntheticRotation(s, i, at, outcome) {
					data, err := json.Marshal(r)
					if err != nil {
						return err
					}
					seq, _ := b.NextSequence()
					if err := b.Put(seqKey(seq), data); err != nil {
						return err
					}
					n++
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, db.Close()
}
