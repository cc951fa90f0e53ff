package reconcile

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// FileReader is optionally implemented by the Executor's Reader: the whole content of a file, so that
// a transaction's snapshot holds every file it writes byte for byte, not only the secret's values in
// it. exists is false when there is no file.
type FileReader interface {
	ReadFile(ctx context.Context, path string) (data []byte, exists bool, err error)
}

// FileWriter is optionally implemented by the Executor's Writer: puts a whole file back, in place.
type FileWriter interface {
	WriteFile(ctx context.Context, path string, data []byte) error
}

// snapshot is what a transaction keeps, encrypted by the Stash, to undo its writes.
type snapshot struct {
	Values []stashed   `json:"values"`
	Files  []*fileCopy `json:"files,omitempty"`
}

// stashed is one location's value before the transaction, as kept in the stash.
type stashed struct {
	Path  string `json:"path"`
	Key   string `json:"key,omitempty"`
	Form  string `json:"form,omitempty"` // a derived location: Value is the form as it was written
	Value string `json:"value"`
}

// fileCopy is one file the transaction writes, whole, as it was before.
type fileCopy struct {
	Path    string `json:"path"`
	Content []byte `json:"content"`
	SHA256  string `json:"sha256"`
	// Last is the SHA-256 of the file as this transaction last left it ("" before its first write). A
	// file still holding it was changed by no one else since: putting the whole copy back loses nothing.
	Last string `json:"last,omitempty"`
	// Writing says a write by this transaction may not have completed (an error, a crash): the file may
	// be torn, and only the whole copy repairs it.
	Writing bool `json:"writing,omitempty"`
}

func digest(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// takeSnapshot reads the values at every location and, when the adapters can, every file holding them
// whole, and stashes them.
func (r *run) takeSnapshot(ctx context.Context, st Step) error {
	snap := &snapshot{Values: make([]stashed, 0, len(st.Locations))}
	for _, l := range st.Locations {
		v, err := r.e.Reader.ReadValue(ctx, l)
		if err != nil {
			return err
		}
		snap.Values = append(snap.Values, stashed{Path: l.Path, Key: l.Key, Form: l.Form, Value: v})
	}
	if fr, ok := r.files(); ok {
		seen := map[string]bool{}
		for _, l := range st.Locations {
			if seen[l.Path] {
				continue
			}
			seen[l.Path] = true
			data, exists, err := fr.ReadFile(ctx, l.Path)
			if err != nil {
				return err
			}
			if exists {
				snap.Files = append(snap.Files, &fileCopy{Path: l.Path, Content: data, SHA256: digest(data)})
			}
		}
	}
	data, err := json.Marshal(snap)
	if err != nil {
		return fmt.Errorf("failed to encode the snapshot: %w", err)
	}
	return r.effect(ctx, st, func() error {
		if err := r.e.Stash.Save(ctx, r.txn, data); err != nil {
			return err
		}
		r.snap = snap
		return nil
	})
}

// files returns the whole-file ports when both adapters implement them.
func (r *run) files() (interface {
	FileReader
	FileWriter
}, bool) {
	fr, ok1 := r.e.Reader.(FileReader)
	fw, ok2 := r.e.Writer.(FileWriter)
	if !ok1 || !ok2 {
		return nil, false
	}
	return struct {
		FileReader
		FileWriter
	}{fr, fw}, true
}

// saveSnapshot stashes the snapshot again, with the state of its files.
func (r *run) saveSnapshot(ctx context.Context) error {
	data, err := json.Marshal(r.snap)
	if err != nil {
		return fmt.Errorf("failed to encode the snapshot: %w", err)
	}
	return r.e.Stash.Save(ctx, r.txn, data)
}

// fileCopy returns the snapshot's copy of path, loading the snapshot if this run did not take it.
func (r *run) fileCopy(ctx context.Context, path string) *fileCopy {
	if r.snap == nil {
		if _, ok := r.files(); !ok {
			return nil
		}
		snap, err := r.loadSnapshot(ctx)
		if err != nil {
			return nil
		}
		r.snap = snap
	}
	for _, fc := range r.snap.Files {
		if fc.Path == path {
			return fc
		}
	}
	return nil
}

// writeTracked writes value at l and records in the stash, around the write, the state of the file:
// being written (a failure or crash may leave it torn), then its hash as this transaction left it.
func (r *run) writeTracked(ctx context.Context, l Location, value string) error {
	fc := r.fileCopy(ctx, l.Path)
	if fc == nil {
		return r.writeAt(ctx, l, value)
	}
	wasWriting := fc.Writing
	fc.Writing = true
	if err := r.saveSnapshot(ctx); err != nil {
		fc.Writing = wasWriting // nothing was written
		return err
	}
	if err := r.writeAt(ctx, l, value); err != nil {
		return err
	}
	fr, _ := r.files()
	if data, _, err := fr.ReadFile(ctx, l.Path); err == nil {
		fc.Last, fc.Writing = digest(data), false
		_ = r.saveSnapshot(ctx) // still marked as being written: a recovery restores the whole copy
	}
	return nil
}

// restore puts back what the transaction changed. A file the transaction wrote is put back whole, byte
// for byte, and checked by hash, when nothing but this transaction changed it since (or a write may
// have torn it); otherwise, and for files without a copy, only the secret's own values are written
// back, so that another secret's change to the same file since survives.
func (r *run) restore(ctx context.Context) error {
	snap, err := r.loadSnapshot(ctx)
	if err != nil {
		return err
	}
	r.snap = snap
	for _, s := range snap.Values {
		r.hide(s.Value) // an orphan's old value is no declared secret's: the session's redactor may not know it
	}
	var errs []error
	whole := map[string]bool{}
	for _, fc := range snap.Files {
		done, err := r.restoreFile(ctx, fc)
		if err != nil {
			errs = append(errs, err)
		}
		whole[fc.Path] = done || err != nil
	}
	for _, s := range snap.Values {
		if whole[s.Path] {
			continue
		}
		// A form goes back as it was written (WriteValue, not rendered again).
		if err := r.e.Writer.WriteValue(ctx, Location{Path: s.Path, Key: s.Key, Form: s.Form}, s.Value); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// restoreFile puts fc back whole when that is safe, and reports whether the file is now the copy.
func (r *run) restoreFile(ctx context.Context, fc *fileCopy) (bool, error) {
	fr, _ := r.files()
	cur, exists, err := fr.ReadFile(ctx, fc.Path)
	if err != nil {
		return false, r.restoreFailed(fc.Path, err)
	}
	now := digest(cur)
	switch {
	case exists && now == fc.SHA256:
		return true, nil
	case exists && !fc.Writing && now != fc.Last:
		return false, nil // changed since by someone else: restore the secret's values only
	}
	// A crash in the write below must still find the file to repair. Like every step of a rollback, the
	// restore goes ahead when this cannot be recorded (a full state dir must not strand a half-applied
	// rotation).
	fc.Writing = true
	_ = r.saveSnapshot(ctx)
	if err := fr.WriteFile(ctx, fc.Path, fc.Content); err != nil {
		return false, r.restoreFailed(fc.Path, err)
	}
	back, _, err := fr.ReadFile(ctx, fc.Path)
	if err != nil {
		return false, r.restoreFailed(fc.Path, err)
	}
	if !bytes.Equal(back, fc.Content) || digest(back) != fc.SHA256 {
		return false, r.restoreFailed(fc.Path, fmt.Errorf("its content after the restore does not match the snapshot's SHA-256"))
	}
	fc.Writing, fc.Last = false, fc.SHA256
	_ = r.saveSnapshot(ctx)
	return true, nil
}

// restoreFailed is the error of a file that could not be put back: it names the file, the transaction
// and the command that tries again, since the snapshot is kept while the transaction stays open.
func (r *run) restoreFailed(path string, err error) error {
	return fmt.Errorf("could not restore %s from the snapshot of transaction %s: %w; the snapshot is kept: fix the cause, then run `rekey apply`, which restores the file from it", path, r.txn, err)
}

// loadStash returns the values of the transaction's snapshot.
func (r *run) loadStash(ctx context.Context) ([]stashed, error) {
	snap, err := r.loadSnapshot(ctx)
	if err != nil {
		return nil, err
	}
	return snap.Values, nil
}

// loadSnapshot reads the transaction's snapshot; a snapshot stashed by an older rekey (a list of values)
// still loads, without file copies.
func (r *run) loadSnapshot(ctx context.Context) (*snapshot, error) {
	data, err := r.e.Stash.Load(ctx, r.txn)
	if err != nil {
		return nil, err
	}
	var snap snapshot
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("[")) {
		err = json.Unmarshal(data, &snap.Values)
	} else {
		err = json.Unmarshal(data, &snap)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to decode the snapshot: %w", err)
	}
	return &snap, nil
}
