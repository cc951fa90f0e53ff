package gitsync

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// notFoundError is an error message that matches ErrNotFound.
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string        { return e.msg }
func (e *notFoundError) Is(target error) bool { return target == ErrNotFound }

func notFoundf(format string, args ...any) error {
	return &notFoundError{msg: fmt.Sprintf(format, args...)}
}

// Resolve resolves ref to a commit:
//   - "" is HEAD for a local path and the remote's default branch for a URL;
//   - a branch name is the local branch for a local path and the
//     remote-tracking branch (as of the last fetch) for a URL;
//   - a tag name (annotated tags are peeled to their commit);
//   - a full ref name (refs/heads/x, refs/tags/x, refs/remotes/o/x);
//   - a full or abbreviated (at least 4 hex digits) commit hash.
//
// A name that is both a branch and a tag pointing at different commits is an
// error matching ErrAmbiguous; an unknown ref is an error matching
// ErrNotFound. Revision expressions (main~1, HEAD^) are not supported.
func (r *Repo) Resolve(ref string) (Commit, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.resolve(ref)
	if err != nil {
		what := fmt.Sprintf("ref %q", ref)
		if ref == "" {
			what = "the default branch"
		}
		return Commit{}, fmt.Errorf("failed to resolve %s in %s: %w", what, r.display, err)
	}
	return toCommit(c), nil
}

func (r *Repo) resolve(ref string) (*object.Commit, error) {
	if ref == "" || ref == "HEAD" {
		return r.resolveHead()
	}
	if strings.ContainsAny(ref, " ~^:?*[\\") || strings.Contains(ref, "..") || strings.HasPrefix(ref, "-") {
		return nil, fmt.Errorf("unsupported ref syntax (use a branch, a tag or a commit hash)")
	}
	if isHex(ref) && len(ref) == 2*len(plumbing.ZeroHash) {
		if c, err := r.commitByHash(ref); err == nil || !errors.Is(err, ErrNotFound) {
			return c, err
		}
	}

	var matches []*object.Commit
	var matchNames []plumbing.ReferenceName
	for _, name := range r.candidates(ref) {
		target, err := storer.ResolveReference(r.repo.Storer, name)
		if errors.Is(err, plumbing.ErrReferenceNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("failed to read %s: %w", name, err)
		}
		c, err := r.peel(target.Hash())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if len(matches) > 0 && matches[0].Hash != c.Hash {
			return nil, fmt.Errorf("%w: %s (%s) and %s (%s) differ; use the full ref name",
				ErrAmbiguous, matchNames[0], matches[0].Hash, name, c.Hash)
		}
		matches = append(matches, c)
		matchNames = append(matchNames, name)
	}
	if len(matches) > 0 {
		return matches[0], nil
	}
	if isHex(ref) && len(ref) >= 4 && len(ref) <= 2*len(plumbing.ZeroHash) {
		return r.commitByHash(ref)
	}
	if r.remote {
		return nil, notFoundf("no branch, tag or commit named %q (as of the last fetch)", ref)
	}
	return nil, notFoundf("no branch, tag or commit named %q", ref)
}

// candidates lists the ref names ref may stand for, in order of preference.
func (r *Repo) candidates(ref string) []plumbing.ReferenceName {
	if !r.remote {
		if strings.HasPrefix(ref, "refs/") {
			return []plumbing.ReferenceName{plumbing.ReferenceName(ref)}
		}
		return []plumbing.ReferenceName{
			plumbing.NewBranchReferenceName(ref),
			plumbing.NewTagReferenceName(ref),
			plumbing.ReferenceName("refs/remotes/" + ref),
		}
	}
	if branch, ok := strings.CutPrefix(ref, "refs/heads/"); ok {
		return []plumbing.ReferenceName{plumbing.NewRemoteReferenceName(remoteName, branch)}
	}
	if strings.HasPrefix(ref, "refs/") {
		return []plumbing.ReferenceName{plumbing.ReferenceName(ref)}
	}
	return []plumbing.ReferenceName{
		plumbing.NewRemoteReferenceName(remoteName, ref),
		plumbing.NewTagReferenceName(ref),
	}
}

func (r *Repo) resolveHead() (*object.Commit, error) {
	name := plumbing.HEAD
	if r.remote {
		name = remoteHead
	}
	ref, err := storer.ResolveReference(r.repo.Storer, name)
	if err != nil {
		if errors.Is(err, plumbing.ErrReferenceNotFound) {
			if r.remote {
				return nil, notFoundf("the remote has no default branch (HEAD); name a branch")
			}
			return nil, notFoundf("HEAD does not point to a commit (empty repository?)")
		}
		return nil, fmt.Errorf("failed to read %s: %w", name, err)
	}
	return r.peel(ref.Hash())
}

// commitByHash finds the commit named by a full or abbreviated hash. Tags
// are peeled; other objects are an error.
func (r *Repo) commitByHash(h string) (*object.Commit, error) {
	h = strings.ToLower(h)
	if !isHex(h) || len(h) < 4 || len(h) > 2*len(plumbing.ZeroHash) {
		return nil, fmt.Errorf("invalid commit hash %q", h)
	}
	if len(h) == 2*len(plumbing.ZeroHash) {
		return r.peel(plumbing.NewHash(h))
	}
	type prefixer interface {
		HashesWithPrefix(prefix []byte) ([]plumbing.Hash, error)
	}
	p, ok := r.repo.Storer.(prefixer)
	if !ok {
		return nil, fmt.Errorf("abbreviated hashes are not supported by this storage; use the full hash")
	}
	prefix, err := hex.DecodeString(h[:len(h)&^1])
	if err != nil {
		return nil, fmt.Errorf("invalid commit hash %q", h)
	}
	hashes, err := p.HashesWithPrefix(prefix)
	if err != nil {
		return nil, fmt.Errorf("failed to look up %q: %w", h, err)
	}
	var found *object.Commit
	seen := map[plumbing.Hash]bool{}
	for _, candidate := range hashes {
		if seen[candidate] || !strings.HasPrefix(candidate.String(), h) {
			continue
		}
		seen[candidate] = true
		c, err := r.peel(candidate)
		if err != nil {
			continue // not a commit-ish
		}
		if found != nil && found.Hash != c.Hash {
			return nil, fmt.Errorf("%w: abbreviated hash %q matches more than one commit", ErrAmbiguous, h)
		}
		found = c
	}
	if found == nil {
		return nil, notFoundf("no commit %s", h)
	}
	return found, nil
}

// reopen reopens the repository storage, which go-git caches (the list of
// pack files in particular): another Repo or process may have fetched into the
// same cache directory, or git may have repacked a local repository, since
// this Repo was opened. It reports whether the storage was reopened.
func (r *Repo) reopen() bool {
	repo, err := git.PlainOpenWithOptions(r.dir, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
	if err != nil {
		return false
	}
	r.repo = repo
	return true
}

// peel returns the commit h names, following annotated tags.
func (r *Repo) peel(h plumbing.Hash) (*object.Commit, error) {
	for range 10 {
		obj, err := r.repo.Object(plumbing.AnyObject, h)
		if errors.Is(err, plumbing.ErrObjectNotFound) && r.reopen() {
			obj, err = r.repo.Object(plumbing.AnyObject, h)
		}
		if err != nil {
			if errors.Is(err, plumbing.ErrObjectNotFound) {
				return nil, notFoundf("no commit %s", h)
			}
			return nil, fmt.Errorf("failed to read object %s: %w", h, err)
		}
		switch o := obj.(type) {
		case *object.Commit:
			return o, nil
		case *object.Tag:
			h = o.Target
		default:
			return nil, fmt.Errorf("object %s is a %s, not a commit", h, obj.Type())
		}
	}
	return nil, fmt.Errorf("tag chain at %s is too long", h)
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func toCommit(c *object.Commit) Commit {
	return Commit{
		Hash:      c.Hash.String(),
		Author:    Signature{Name: c.Author.Name, Email: c.Author.Email, When: c.Author.When},
		Committer: Signature{Name: c.Committer.Name, Email: c.Committer.Email, When: c.Committer.When},
		Message:   c.Message,
	}
}

// ReadFile returns the content of the regular file at path (slash-separated,
// relative to the repository root) in the commit named by commitHash (full or
// abbreviated hash; not a ref name). A missing file is an error matching
// ErrNotFound; directories, symlinks and submodules are errors.
func (r *Repo) ReadFile(commitHash, filePath string) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, err := cleanPath(filePath)
	if err != nil {
		return nil, err
	}
	if p == "" {
		return nil, fmt.Errorf("path %q names the repository root, not a file", filePath)
	}
	c, err := r.commitByHash(commitHash)
	if err != nil {
		return nil, fmt.Errorf("failed to read %q in %s: %w", filePath, r.display, err)
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("failed to read the tree of commit %s: %w", c.Hash, err)
	}
	entry, err := r.findEntry(tree, p)
	if err != nil {
		return nil, fmt.Errorf("failed to find %q at commit %s: %w", p, c.Hash, err)
	}
	if entry == nil {
		return nil, notFoundf("file %q not found at commit %s", p, c.Hash)
	}
	switch entry.Mode {
	case filemode.Regular, filemode.Executable, filemode.Deprecated:
	case filemode.Dir:
		return nil, fmt.Errorf("%q is a directory at commit %s, not a file", p, c.Hash)
	case filemode.Symlink:
		return nil, fmt.Errorf("%q is a symlink at commit %s; symlinks are not followed", p, c.Hash)
	case filemode.Submodule:
		return nil, fmt.Errorf("%q is a submodule at commit %s, not a file", p, c.Hash)
	default:
		return nil, fmt.Errorf("%q at commit %s has unsupported mode %s", p, c.Hash, entry.Mode)
	}
	blob, err := r.repo.BlobObject(entry.Hash)
	if err != nil {
		return nil, fmt.Errorf("failed to read %q at commit %s: %w", p, c.Hash, err)
	}
	if blob.Size > MaxFileSize {
		return nil, fmt.Errorf("%q at commit %s is %d bytes, over the limit of %d bytes for a file rekey reads from the repository", p, c.Hash, blob.Size, MaxFileSize)
	}
	rd, err := blob.Reader()
	if err != nil {
		return nil, fmt.Errorf("failed to read %q at commit %s: %w", p, c.Hash, err)
	}
	defer rd.Close()
	data, err := io.ReadAll(io.LimitReader(rd, MaxFileSize+1)) // the object store's size may lie
	if err != nil {
		return nil, fmt.Errorf("failed to read %q at commit %s: %w", p, c.Hash, err)
	}
	if int64(len(data)) > MaxFileSize {
		return nil, fmt.Errorf("%q at commit %s is over the limit of %d bytes for a file rekey reads from the repository", p, c.Hash, MaxFileSize)
	}
	return data, nil
}

// MaxFileSize is the most ReadFile reads of one file: rekey.yaml and the values file are small, and a
// commit must not be able to make rekey read until it runs out of memory.
const MaxFileSize = 8 << 20

// cleanPath turns a repository path into the canonical slash-separated form,
// rejecting absolute paths and paths leaving the repository. "" and "." stand
// for the root and are returned as "".
func cleanPath(p string) (string, error) {
	orig := p
	p = strings.ReplaceAll(p, "\\", "/")
	if strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("path %q must be relative to the repository root", orig)
	}
	p = path.Clean(p)
	if p == "." {
		return "", nil
	}
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", fmt.Errorf("path %q leaves the repository", orig)
	}
	return p, nil
}

// IsAncestor reports whether ancestor is reachable from descendant (a commit
// is its own ancestor). Both are commit hashes (full or abbreviated). A hash
// the repository does not have is an error matching ErrNotFound: after a
// history rewrite a fresh clone no longer has the old commits, so a guard
// should treat ErrNotFound for ancestor like false.
func (r *Repo) IsAncestor(ancestor, descendant string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, err := r.commitByHash(ancestor)
	if err != nil {
		return false, fmt.Errorf("failed to check ancestry in %s: %w", r.display, err)
	}
	d, err := r.commitByHash(descendant)
	if err != nil {
		return false, fmt.Errorf("failed to check ancestry in %s: %w", r.display, err)
	}
	ok, err := a.IsAncestor(d)
	if err != nil {
		return false, fmt.Errorf("failed to walk the history of %s in %s: %w", d.Hash, r.display, err)
	}
	return ok, nil
}

// Log returns the commits reachable from from (anything Resolve accepts),
// newest first by committer time, that touch any of paths: a path is a file
// or a directory (everything under it), slash-separated and relative to the
// root. No paths (or the root) means every commit. A commit touches the paths
// if their content or mode differs from its parent; a merge commit is listed
// only if it differs from every parent (as git log does). limit <= 0 means no
// limit.
func (r *Repo) Log(from string, paths []string, limit int) ([]Commit, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var clean []string
	all := len(paths) == 0
	for _, p := range paths {
		c, err := cleanPath(p)
		if err != nil {
			return nil, err
		}
		if c == "" {
			all = true
		}
		clean = append(clean, c)
	}
	start, err := r.resolve(from)
	if err != nil {
		return nil, fmt.Errorf("failed to read the log of %q in %s: %w", from, r.display, err)
	}
	var out []Commit
	iter := object.NewCommitIterCTime(start, nil, nil)
	defer iter.Close()
	err = iter.ForEach(func(c *object.Commit) error {
		if !all {
			touched, err := r.touches(c, clean)
			if err != nil {
				return err
			}
			if !touched {
				return nil
			}
		}
		out = append(out, toCommit(c))
		if limit > 0 && len(out) >= limit {
			return storer.ErrStop
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("failed to read the log of %q in %s: %w", from, r.display, err)
	}
	return out, nil
}

type entryState struct {
	hash plumbing.Hash
	mode filemode.FileMode
}

// findEntry returns the entry at the slash-separated path p under tree, or
// nil when there is none (including when a leading component is a file).
func (r *Repo) findEntry(tree *object.Tree, p string) (*object.TreeEntry, error) {
	parts := strings.Split(p, "/")
	for i, name := range parts {
		var found *object.TreeEntry
		for j := range tree.Entries {
			if tree.Entries[j].Name == name {
				found = &tree.Entries[j]
				break
			}
		}
		if found == nil {
			return nil, nil
		}
		if i == len(parts)-1 {
			return found, nil
		}
		if found.Mode != filemode.Dir {
			return nil, nil
		}
		sub, err := r.repo.TreeObject(found.Hash)
		if err != nil {
			return nil, err
		}
		tree = sub
	}
	return nil, nil
}

func (r *Repo) pathStates(c *object.Commit, paths []string) ([]entryState, error) {
	tree, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("failed to read the tree of commit %s: %w", c.Hash, err)
	}
	states := make([]entryState, len(paths))
	for i, p := range paths {
		e, err := r.findEntry(tree, p)
		if err != nil {
			return nil, fmt.Errorf("failed to find %q at commit %s: %w", p, c.Hash, err)
		}
		if e == nil {
			continue // absent: zero state
		}
		states[i] = entryState{hash: e.Hash, mode: e.Mode}
	}
	return states, nil
}

// touches reports whether c changes any of paths relative to each of its
// parents (a root commit touches the paths it has).
func (r *Repo) touches(c *object.Commit, paths []string) (bool, error) {
	mine, err := r.pathStates(c, paths)
	if err != nil {
		return false, err
	}
	if c.NumParents() == 0 {
		for _, s := range mine {
			if s != (entryState{}) {
				return true, nil
			}
		}
		return false, nil
	}
	for _, ph := range c.ParentHashes {
		parent, err := r.repo.CommitObject(ph)
		if err != nil {
			return false, fmt.Errorf("failed to read parent %s of %s: %w", ph, c.Hash, err)
		}
		theirs, err := r.pathStates(parent, paths)
		if err != nil {
			return false, err
		}
		same := true
		for i := range mine {
			if mine[i] != theirs[i] {
				same = false
				break
			}
		}
		if same {
			return false, nil // same as one parent: not a change
		}
	}
	return true, nil
}

// Short abbreviates a commit hash to 12 hex digits for output.
func Short(hash string) string {
	if len(hash) > 12 {
		return hash[:12]
	}
	return hash
}

// Subject is a commit message's first line.
func Subject(message string) string {
	return strings.TrimSpace(strings.SplitN(message, "\n", 2)[0])
}
