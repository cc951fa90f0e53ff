package gitsync

import (
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// Branch returns the branch a ref of "" means: the checked-out branch of a local repository, or the
// remote's default branch for a URL. Write-back commits go there.
func (r *Repo) Branch() (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	name := plumbing.HEAD
	if r.remote {
		name = remoteHead
	}
	ref, err := r.repo.Storer.Reference(name)
	if err != nil {
		return "", fmt.Errorf("failed to find the default branch of %s: %w", r.display, err)
	}
	if ref.Type() != plumbing.SymbolicReference {
		return "", fmt.Errorf("%s has a detached HEAD: name the branch with --ref", r.display)
	}
	target := ref.Target().String()
	target = strings.TrimPrefix(target, "refs/heads/")
	return strings.TrimPrefix(target, "refs/remotes/"+remoteName+"/"), nil
}
