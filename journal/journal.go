// Package journal is rekey's durable state under --state-dir: the intent/outcome journal of every
// transaction and, age-encrypted, the values a transaction is about to replace (its stash), so that a
// rollback can put them back.
//
// Layout of the state dir (mode 0700, refused if group or world writable; the directory itself is
// flock-ed while a Journal is open):
//
//	journal.db    bbolt database, mode 0600
//	  records     bucket: big-endian uint64 sequence -> JSON reconcile.Record, or 0x01 + the JSON summary
//	              of a finished transaction past the retention (summary.go)
//	  index       bucket: <secret> 0x00 <sequence> -> empty: the records of one secret (index.go)
//	  stash       bucket: stash entry (transaction id, pending/<secret>/<fp>) -> age(data given to Save)
//	  meta        bucket: "applied" -> the last commit the desired state was applied from, "fold/<secret>"
//	              -> what a secret's oldest history still says (fold.go), and more
//	stash-keys/   mode 0700: <sha256(entry)>.key, the age X25519 identity of one stash entry, mode
//	              0600, created by its first Save, shredded by its Drop
//	snapshot.key  the one key of earlier versions: read only for their entries, shredded once none is left
//
// Records hold fingerprints, never values. Stashed data is encrypted in memory before it is written
// to journal.db, so old values never touch disk in the clear. Each entry has a key of its own, and Drop
// (at the end of a transaction) deletes the entry, shreds its key and compacts journal.db, whose freed
// pages would otherwise keep the ciphertext: a copy of the state dir taken after a transaction ended
// holds nothing that decrypts what it stashed.
//
// Retention (retention.go) bounds the journal: per secret, its unfinished (and kept) transactions and its
// last N finished ones (WithRetention, default DefaultRetention = 20) stay in full; the finished ones up
// to 10 x N back are packed into one summary each (commit, fingerprints, phases from verified on,
// failures, outcome, times), which Records and All give back as records in their place; older history is
// folded into the values it revoked, the last value applied and the last rollbacks (Records and All give
// those back as records too; History, which the agent and `status` read, keeps the revoked values as a set). The pruning runs in the
// bbolt transaction that writes an end record, and at Open when the retention changed, and marks journal.db
// for the same compaction as the stash Drop that follows every end record.
package journal

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/rekeyhq/rekey/reconcile"
)

const (
	dbName  = "journal.db"
	keyName = "snapshot.key"

	dirMode  os.FileMode = 0o700
	fileMode os.FileMode = 0o600

	defaultLockTimeout = 2 * time.Second
)

var (
	bucketRecords = []byte("records")
	bucketStash   = []byte("stash")
	bucketMeta    = []byte("meta")
	keyApplied    = []byte("applied")
)

// ErrInUse is wrapped by the error of Open when another process holds the state dir.
var ErrInUse = errors.New("in use by another rekey process")

// Journal is the durable journal and stash of one state dir. It implements reconcile.Journal and
// reconcile.Stash. It is safe for concurrent use.
type Journal struct {
	dir  string
	lock *os.File // holds the flock on dir

	dbMu sync.RWMutex // guards db: compaction replaces it
	db   *bolt.DB

	killAfter int
	retention int // finished transactions kept in full per secret; 0 keeps everything

	mu       sync.Mutex // guards recorded and the key files
	recorded int
}

// Option configures Open.
type Option func(*options)

type options struct {
	lockTimeout time.Duration
	killAfter   int
	retention   int
}

// WithLockTimeout sets how long Open waits for another process to release the state dir
// (default 2s).
func WithLockTimeout(d time.Duration) Option {
	return func(o *options) { o.lockTimeout = d }
}

// WithKillAfter is a debug/test hook for crash tests: right after the n-th record written through
// this Journal is committed (durable), the process sends itself SIGKILL, exactly as a kill -9 between
// two steps would. n <= 0 disables it (the default). Never use it outside tests and debugging.
func WithKillAfter(n int) Option {
	return func(o *options) { o.killAfter = n }
}

// Open opens the journal in stateDir, creating the directory (0700) and journal.db (0600) if
// missing. It holds an exclusive lock on the state dir until Close; if another process holds it for
// longer than the lock timeout, Open fails with an error wrapping ErrInUse. It shreds the keys of
// stash entries that are gone and finishes a compaction a crash interrupted.
func Open(stateDir string, opts ...Option) (*Journal, error) {
	o := options{lockTimeout: defaultLockTimeout, retention: retentionUnset}
	for _, opt := range opts {
		opt(&o)
	}
	if stateDir == "" {
		return nil, errors.New("failed to open the journal: empty state dir")
	}
	if err := prepareDir(stateDir); err != nil {
		return nil, err
	}

	timeout := o.lockTimeout
	if timeout <= 0 {
		timeout = time.Millisecond // bbolt waits forever on 0
	}
	lock, err := lockDir(stateDir, timeout)
	if err != nil {
		return nil, err
	}
	j, err := openLocked(stateDir, timeout)
	if err != nil {
		_ = lock.Close()
		return nil, Diagnose(stateDir, err)
	}
	j.lock, j.killAfter, j.retention = lock, o.killAfter, o.retention
	if o.retention == retentionUnset {
		j.retention = j.storedRetention()
	}
	if err := j.prepare(); err != nil {
		_ = j.Close()
		return nil, fmt.Errorf("failed to open the journal in %s: %w", stateDir, err)
	}
	return j, nil
}

// prepare brings a journal just opened up to date: it indexes a journal of an earlier version, prunes
// the history the retention no longer keeps, then sweeps (shreds the keys nobody needs, compacts).
func (j *Journal) prepare() error {
	migrated, err := j.migrateIndex()
	if err != nil {
		return err
	}
	if err := j.pruneAll(migrated); err != nil {
		return err
	}
	return j.sweep()
}

// openLocked opens journal.db once the state dir lock is held.
func openLocked(stateDir string, timeout time.Duration) (*Journal, error) {
	path := filepath.Join(stateDir, dbName)
	if fi, err := os.Lstat(path); err == nil {
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("failed to open the journal: %s is not a regular file", path)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("failed to open the journal: %s has mode %v, accessible by group or other: run chmod 600 %s",
				path, fi.Mode().Perm(), path)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("failed to stat %s: %w", path, err)
	}

	db, err := bolt.Open(path, fileMode, &bolt.Options{Timeout: timeout})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("state dir %s is %w (lock on %s not released within %v): wait for it to finish or stop it",
				stateDir, ErrInUse, path, timeout)
		}
		return nil, fmt.Errorf("failed to open the journal %s: %w", path, err)
	}
	// bbolt creates the file with 0600 minus the umask; a umask that removed user bits would make
	// the next Open fail.
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm() != fileMode {
		if err := os.Chmod(path, fileMode); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("failed to set mode %v on %s: %w", fileMode, path, err)
		}
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketRecords, bucketStash, bucketMeta, bucketIndex} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("failed to create bucket %s: %w", b, err)
			}
		}
		return nil
	}); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("failed to initialise the journal %s: %w", path, err)
	}
	return &Journal{dir: stateDir, db: db}, nil
}

// prepareDir creates dir with mode 0700 if missing and refuses one that is group or world writable.
func prepareDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, dirMode); err != nil {
			return fmt.Errorf("failed to create state dir %s: %w", dir, err)
		}
		// The umask can only have removed bits; make it exactly 0700.
		if err := os.Chmod(dir, dirMode); err != nil {
			return fmt.Errorf("failed to set mode %v on state dir %s: %w", dirMode, dir, err)
		}
		fi, err = os.Stat(dir)
	}
	if err != nil {
		return fmt.Errorf("failed to stat state dir %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("state dir %s is not a directory", dir)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("state dir %s is writable by group or other (mode %v): run chmod 700 %s", dir, fi.Mode().Perm(), dir)
	}
	return nil
}

// Dir returns the state dir.
func (j *Journal) Dir() string { return j.dir }

// Close releases the state dir.
func (j *Journal) Close() error {
	j.dbMu.Lock()
	err := j.db.Close()
	j.dbMu.Unlock()
	if j.lock != nil {
		_ = j.lock.Close() // releases the flock
	}
	if err != nil {
		return fmt.Errorf("failed to close the journal: %w", err)
	}
	return nil
}

// view and update run fn in a bbolt transaction on the current journal.db (compaction replaces it).
func (j *Journal) view(fn func(*bolt.Tx) error) error {
	j.dbMu.RLock()
	defer j.dbMu.RUnlock()
	return j.db.View(fn)
}

func (j *Journal) update(fn func(*bolt.Tx) error) error {
	j.dbMu.RLock()
	defer j.dbMu.RUnlock()
	return j.db.Update(fn)
}

// Record appends r to the journal. The record is durable (fsynced) when Record returns.
func (j *Journal) Record(ctx context.Context, r reconcile.Record) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("failed to record: %w", err)
	}
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("failed to encode a journal record: %w", err)
	}
	if err := j.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRecords)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		if err := b.Put(seqKey(seq), data); err != nil {
			return err
		}
		if err := tx.Bucket(bucketIndex).Put(indexKey(r.Secret, seq), nil); err != nil {
			return err
		}
		return j.pruneAfterEnd(tx, r)
	}); err != nil {
		return fmt.Errorf("failed to write a journal record: %w", err)
	}

	j.mu.Lock()
	j.recorded++
	kill := j.killAfter > 0 && j.recorded == j.killAfter
	j.mu.Unlock()
	if kill {
		killSelf()
	}
	return nil
}

// killSelf is the WithKillAfter hook: SIGKILL to this process, and never return.
func killSelf() {
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	for {
		time.Sleep(time.Hour)
	}
}

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

// All returns every record, oldest first.
func (j *Journal) All() ([]reconcile.Record, error) {
	return j.records(func(reconcile.Record) bool { return true })
}

// Records returns the records of one secret, oldest first. It reads them through the index: only that
// secret's records are decoded.
func (j *Journal) Records(secret string) ([]reconcile.Record, error) {
	var out []reconcile.Record
	err := j.view(func(tx *bolt.Tx) error {
		f, err := readFold(tx, secret)
		if err != nil {
			return err
		}
		es, err := secretEntries(tx, secret)
		out = append(f.records(secret), records(es)...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("failed to read the journal: %w", err)
	}
	return out, nil
}

func (j *Journal) records(keep func(reconcile.Record) bool) ([]reconcile.Record, error) {
	var es []entry
	var folded []reconcile.Record
	err := j.view(func(tx *bolt.Tx) error {
		var err error
		if folded, err = allFolds(tx); err != nil {
			return err
		}
		packed := false
		err = tx.Bucket(bucketRecords).ForEach(func(k, v []byte) error {
			packed = packed || len(v) > 0 && v[0] == packedMark
			var err error
			es, err = decodeEntries(es, k, v)
			return err
		})
		sortEntries(es, packed)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("failed to read the journal: %w", err)
	}
	out := make([]reconcile.Record, 0, len(folded)+len(es))
	for _, r := range folded {
		if keep(r) {
			out = append(out, r)
		}
	}
	for _, e := range es {
		if keep(e.rec) {
			out = append(out, e.rec)
		}
	}
	return out, nil
}

// Txn returns the unfinished transaction of secret, or nil if its last transaction ended
// (reconcile.Replay over its records).
func (j *Journal) Txn(secret string) (*reconcile.Txn, error) {
	h, err := j.History(secret)
	if err != nil {
		return nil, err
	}
	return reconcile.Replay(h.Records), nil
}

var _ reconcile.Journal = (*Journal)(nil)

// SetApplied records the commit the desired state was last applied from. The history-rewrite guard
// requires every later commit to descend from it.
func (j *Journal) SetApplied(ctx context.Context, commit string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return j.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyApplied, []byte(commit))
	})
}

// Applied returns the commit recorded by SetApplied, "" before the first apply.
func (j *Journal) Applied() (string, error) {
	var commit string
	err := j.view(func(tx *bolt.Tx) error {
		commit = string(tx.Bucket(bucketMeta).Get(keyApplied))
		return nil
	})
	return commit, err
}

// Since returns when rekey first saw a secret, recording now as that time on the first call. Scheduled
// rotation counts a secret's age from here until rekey rotates it.
func (j *Journal) Since(ctx context.Context, secret string, now time.Time) (time.Time, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, err
	}
	key := []byte("since/" + secret)
	var since time.Time
	err := j.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMeta)
		if v := b.Get(key); v != nil {
			return since.UnmarshalText(v)
		}
		since = now
		v, err := now.UTC().MarshalText()
		if err != nil {
			return err
		}
		return b.Put(key, v)
	})
	return since, err
}

// MarkWriteBack records that rekey committed a new value for secret at t, before it is applied: a
// write-back whose apply never starts must not make the secret due again at once.
func (j *Journal) MarkWriteBack(ctx context.Context, secret string, t time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	v, err := t.UTC().MarshalText()
	if err != nil {
		return err
	}
	return j.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put([]byte("writeback/"+secret), v)
	})
}

// LastWriteBack returns the time recorded by MarkWriteBack, zero if none.
func (j *Journal) LastWriteBack(secret string) (time.Time, error) {
	var t time.Time
	err := j.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get([]byte("writeback/" + secret)); v != nil {
			return t.UnmarshalText(v)
		}
		return nil
	})
	return t, err
}
