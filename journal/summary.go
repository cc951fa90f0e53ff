package journal

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/rekeyhq/rekey/reconcile"
)

// A finished transaction older than the retention is packed into one value of the records bucket, its
// summary: the records summaryRecord keeps, each with the sequence number it was written under, so that
// reading the journal gives back those records in their exact place among the others. The summary is
// stored under the sequence number of the transaction's first record and starts with packedMark (a
// record starts with '{').
const packedMark = 0x01

type packedTxn struct {
	Txn      string         `json:"txn"`
	Secret   string         `json:"secret"`
	Revision string         `json:"rev,omitempty"`
	Records  []packedRecord `json:"recs"`
}

// packedRecord is one record of a summary, its transaction, secret and (when it is the transaction's)
// revision left to the summary.
type packedRecord struct {
	Seq           uint64               `json:"s"`
	Time          time.Time            `json:"t"`
	Type          reconcile.RecordType `json:"y"`
	Revision      string               `json:"rev,omitempty"`
	Phase         reconcile.Phase      `json:"p,omitempty"`
	Step          string               `json:"st,omitempty"`
	Consumer      string               `json:"c,omitempty"`
	Roll          reconcile.RollAction `json:"ro,omitempty"`
	Containers    []string             `json:"cs,omitempty"`
	FromFP        string               `json:"f,omitempty"`
	ToFP          string               `json:"to,omitempty"`
	FinalizeAfter time.Time            `json:"fa,omitzero"`
	Outcome       reconcile.Outcome    `json:"o,omitempty"`
	Reason        string               `json:"r,omitempty"`
}

// entry is one record as read from the records bucket: seq orders it, key is where it is stored (the
// summary's key for a packed one).
type entry struct {
	seq, key uint64
	packed   bool
	rec      reconcile.Record
}

// decodeEntries appends the records stored under key k to out: one record, or every record of a summary.
func decodeEntries(out []entry, k, v []byte) ([]entry, error) {
	key := seqOf(k)
	if len(v) == 0 || v[0] != packedMark {
		var r reconcile.Record
		if err := json.Unmarshal(v, &r); err != nil {
			return out, fmt.Errorf("failed to decode journal record %x: %w", k, err)
		}
		return append(out, entry{seq: key, key: key, rec: r}), nil
	}
	var p packedTxn
	if err := json.Unmarshal(v[1:], &p); err != nil {
		return out, fmt.Errorf("failed to decode the journal summary %x: %w", k, err)
	}
	for _, pr := range p.Records {
		r := reconcile.Record{Time: pr.Time, Txn: p.Txn, Secret: p.Secret, Revision: pr.Revision, Type: pr.Type,
			Phase: pr.Phase, Step: pr.Step, Consumer: pr.Consumer, Roll: pr.Roll, Containers: pr.Containers,
			FromFP: pr.FromFP, ToFP: pr.ToFP, FinalizeAfter: pr.FinalizeAfter, Outcome: pr.Outcome, Reason: pr.Reason}
		if r.Revision == "" {
			r.Revision = p.Revision
		}
		out = append(out, entry{seq: pr.Seq, key: key, packed: true, rec: r})
	}
	return out, nil
}

// sortEntries puts the records of summaries back in their place; sorted tells whether any was read.
func sortEntries(es []entry, packed bool) {
	if packed {
		slices.SortStableFunc(es, func(a, b entry) int {
			switch {
			case a.seq < b.seq:
				return -1
			case a.seq > b.seq:
				return 1
			}
			return 0
		})
	}
}

func records(es []entry) []reconcile.Record {
	out := make([]reconcile.Record, len(es))
	for i, e := range es {
		out[i] = e.rec
	}
	return out
}

// pack replaces the records of one finished transaction (es, in order) with its summary, in tx.
func pack(tx *bolt.Tx, secret string, es []entry) (int, error) {
	recs, idx := tx.Bucket(bucketRecords), tx.Bucket(bucketIndex)
	p := packedTxn{Txn: es[0].rec.Txn, Secret: secret}
	for _, e := range es {
		if e.rec.Type == reconcile.RecordBegin {
			p.Revision = e.rec.Revision
		}
	}
	var keys []uint64
	for _, e := range es {
		if !slices.Contains(keys, e.key) {
			keys = append(keys, e.key)
		}
		if !summaryRecord(e.rec) {
			continue
		}
		r := e.rec
		rev := r.Revision
		if rev == p.Revision {
			rev = ""
		}
		p.Records = append(p.Records, packedRecord{Seq: e.seq, Time: r.Time, Type: r.Type, Revision: rev, Phase: r.Phase,
			Step: r.Step, Consumer: r.Consumer, Roll: r.Roll, Containers: r.Containers, FromFP: r.FromFP, ToFP: r.ToFP,
			FinalizeAfter: r.FinalizeAfter, Outcome: r.Outcome, Reason: r.Reason})
	}
	data, err := json.Marshal(p)
	if err != nil {
		return 0, fmt.Errorf("failed to encode the summary of %s: %w", p.Txn, err)
	}
	for _, k := range keys {
		if err := recs.Delete(seqKey(k)); err != nil {
			return 0, err
		}
		if err := idx.Delete(indexKey(secret, k)); err != nil {
			return 0, err
		}
	}
	at := es[0].seq
	if err := recs.Put(seqKey(at), append([]byte{packedMark}, data...)); err != nil {
		return 0, err
	}
	return len(keys) - 1, idx.Put(indexKey(secret, at), nil)
}
