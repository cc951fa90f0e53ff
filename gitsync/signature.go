package gitsync

import (
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
)

// Signed reports whether the commit named by hash (full or abbreviated)
// carries a signature header (gpgsig or gpgsig-sha256). It does not verify
// the signature: use VerifyCommit for that.
func (r *Repo) Signed(hash string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.commitByHash(hash)
	if err != nil {
		return false, fmt.Errorf("failed to read commit %s in %s: %w", shortHash(hash), r.display, err)
	}
	raw, err := r.repo.Storer.EncodedObject(plumbing.CommitObject, c.Hash)
	if err != nil {
		return false, fmt.Errorf("failed to read commit %s in %s: %w", shortHash(hash), r.display, err)
	}
	sigs, err := signatureHeaders(raw)
	if err != nil {
		return false, fmt.Errorf("failed to read commit %s in %s: %w", shortHash(hash), r.display, err)
	}
	return len(sigs) > 0, nil
}
