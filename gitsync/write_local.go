package gitsync

// Publishing a commit to a local repository: the working tree checks and the branch update.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage"
)

// localState is what checkLocal found out about a local repository.
type localState struct {
	checkedOut bool   // the branch is checked out in the working tree
	root       string // the working tree, when checkedOut
}

// checkLocal checks that branchRef is at base and, when it is checked out,
// that the paths to change are clean.
func (r *Repo) checkLocal(branchRef plumbing.ReferenceName, base *object.Commit, changes []Change) (localState, error) {
	var st localState
	ref, err := r.repo.Storer.Reference(branchRef)
	if err != nil {
		if errors.Is(err, plumbing.ErrReferenceNotFound) {
			return st, notFoundf("no branch %q", branchRef.Short())
		}
		return st, fmt.Errorf("failed to read %s: %w", branchRef, err)
	}
	if ref.Type() != plumbing.HashReference || ref.Hash() != base.Hash {
		return st, &commitError{
			msg:   fmt.Sprintf("branch %s is at %s, not at %s (it moved meanwhile; resolve it again and retry)", branchRef.Short(), ref.Hash(), base.Hash),
			kinds: []error{ErrBranchMoved},
		}
	}
	head, err := r.repo.Storer.Reference(plumbing.HEAD)
	if err != nil || head.Type() != plumbing.SymbolicReference || head.Target() != branchRef {
		return st, nil // not checked out here (or bare): only the ref moves
	}
	wt, err := r.repo.Worktree()
	if errors.Is(err, git.ErrIsBareRepository) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("failed to open the working tree: %w", err)
	}
	st.checkedOut = true
	st.root = wt.Filesystem.Root()

	idx, err := r.repo.Storer.Index()
	if err != nil {
		return st, fmt.Errorf("failed to read the index: %w", err)
	}
	tree, err := base.Tree()
	if err != nil {
		return st, fmt.Errorf("failed to read the tree of %s: %w", base.Hash, err)
	}
	for _, ch := range changes {
		p, err := cleanPath(ch.Path)
		if err != nil {
			return st, err
		}
		if p == "" {
			continue // buildTree reports it
		}
		why, err := r.dirtyReason(st.root, idx, tree, p)
		if err != nil {
			return st, err
		}
		if why != "" {
			return st, &commitError{
				msg:   fmt.Sprintf("%q has uncommitted changes in the working tree (%s); commit or discard them first", p, why),
				kinds: []error{ErrDirty},
			}
		}
	}
	return st, nil
}

// dirtyReason reports why path p is not clean against tree (the branch head),
// or "" when it is clean: the same content and mode in the tree, the index
// and the working tree, or absent from all three.
func (r *Repo) dirtyReason(root string, idx *index.Index, tree *object.Tree, p string) (string, error) {
	te, err := r.findEntry(tree, p)
	if err != nil {
		return "", fmt.Errorf("failed to find %q: %w", p, err)
	}
	var ie *index.Entry
	for _, e := range idx.Entries {
		if e.Name != p {
			continue
		}
		if e.Stage != 0 { // not index.Merged, which go-git defines as 1
			return "unmerged", nil
		}
		if e.IntentToAdd {
			return "intent to add", nil
		}
		ie = e
	}
	switch {
	case te == nil && ie != nil:
		return "staged as a new file", nil
	case te != nil && ie == nil:
		return "staged for deletion", nil
	case te != nil && (te.Hash != ie.Hash || normMode(te.Mode) != normMode(ie.Mode)):
		return "staged changes", nil
	}

	// Every directory on the way must be a real directory: never write
	// through a symlink.
	parts := strings.Split(p, "/")
	dir := root
	for _, part := range parts[:len(parts)-1] {
		dir = filepath.Join(dir, part)
		fi, err := os.Lstat(dir)
		if errors.Is(err, os.ErrNotExist) {
			if ie != nil {
				return "deleted", nil
			}
			return "", nil
		}
		if err != nil {
			return "", fmt.Errorf("failed to inspect %s: %w", dir, err)
		}
		if !fi.IsDir() {
			return fmt.Sprintf("%s is not a directory in the working tree", filepath.ToSlash(strings.TrimPrefix(dir, root+string(filepath.Separator)))), nil
		}
	}
	full := filepath.Join(root, filepath.FromSlash(p))
	fi, err := os.Lstat(full)
	if errors.Is(err, os.ErrNotExist) {
		if ie != nil {
			return "deleted", nil
		}
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("failed to inspect %s: %w", full, err)
	}
	if ie == nil {
		return "untracked file in the way", nil
	}
	if !fi.Mode().IsRegular() {
		return "not a regular file in the working tree", nil
	}
	if (fi.Mode()&0o111 != 0) != (ie.Mode == filemode.Executable) {
		return "mode changed", nil
	}
	data, err := os.ReadFile(full)
	if err != nil {
		return "", fmt.Errorf("failed to read %s: %w", full, err)
	}
	if plumbing.ComputeHash(plumbing.BlobObject, data) != ie.Hash {
		return "modified", nil
	}
	return "", nil
}

func normMode(m filemode.FileMode) filemode.FileMode {
	if m == filemode.Deprecated {
		return filemode.Regular
	}
	return m
}

// savedFile is a working tree file as it was before Commit wrote it.
type savedFile struct {
	full    string
	existed bool
	content []byte
	perm    os.FileMode
}

// publishLocal moves the branch from parent to commit and, when it is checked
// out, writes the changed files and their index entries. The files are written
// first and restored if the branch moved meanwhile.
func (r *Repo) publishLocal(st localState, branchRef plumbing.ReferenceName, parent, commit plumbing.Hash, pending []pendingChange) error {
	newRef := plumbing.NewHashReference(branchRef, commit)
	oldRef := plumbing.NewHashReference(branchRef, parent)
	if !st.checkedOut {
		return r.setBranch(newRef, oldRef)
	}

	var saved []savedFile
	restore := func() error {
		var errs []error
		for i := len(saved) - 1; i >= 0; i-- {
			s := saved[i]
			if !s.existed {
				if err := os.Remove(s.full); err != nil && !errors.Is(err, os.ErrNotExist) {
					errs = append(errs, err)
				}
				continue
			}
			if err := replaceFile(s.full, s.content, s.perm); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	for _, pc := range pending {
		full := filepath.Join(st.root, filepath.FromSlash(pc.path))
		s := savedFile{full: full, perm: 0o644}
		if pc.mode == filemode.Executable {
			s.perm = 0o755
		}
		if fi, err := os.Lstat(full); err == nil {
			s.existed = true
			s.perm = fi.Mode().Perm()
			if s.content, err = os.ReadFile(full); err != nil {
				return errors.Join(fmt.Errorf("failed to read %s: %w", full, err), restore())
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return errors.Join(fmt.Errorf("failed to inspect %s: %w", full, err), restore())
		} else if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return errors.Join(fmt.Errorf("failed to create the directory of %s: %w", full, err), restore())
		}
		saved = append(saved, s)
		if err := replaceFile(full, pc.content, s.perm); err != nil {
			return errors.Join(fmt.Errorf("failed to write %s: %w", full, err), restore())
		}
	}
	if err := r.setBranch(newRef, oldRef); err != nil {
		return errors.Join(err, restore())
	}

	// The index is updated last: if that fails the branch and the files are
	// already right and `git add` of the paths fixes the index.
	wt, err := r.repo.Worktree()
	if err != nil {
		return fmt.Errorf("committed %s, but failed to open the working tree to update the index: %w", commit, err)
	}
	for _, pc := range pending {
		if err := wt.AddWithOptions(&git.AddOptions{Path: pc.path, SkipStatus: true}); err != nil {
			return fmt.Errorf("committed %s, but failed to update the index entry of %q (run git add on it): %w", commit, pc.path, err)
		}
	}
	return nil
}

// setBranch moves the branch from oldRef to newRef if it is still at oldRef.
func (r *Repo) setBranch(newRef, oldRef *plumbing.Reference) error {
	err := r.repo.Storer.CheckAndSetReference(newRef, oldRef)
	if errors.Is(err, storage.ErrReferenceHasChanged) {
		return &commitError{
			msg:   fmt.Sprintf("branch %s is no longer at %s (it moved meanwhile; resolve it again and retry)", newRef.Name().Short(), oldRef.Hash()),
			kinds: []error{ErrBranchMoved},
			cause: err,
		}
	}
	if err != nil {
		return fmt.Errorf("failed to update %s: %w", newRef.Name(), err)
	}
	return nil
}

// replaceFile writes content to a temporary file next to full and renames it
// over full, so readers see the old or the new content, never a mix.
func replaceFile(full string, content []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(full), "."+filepath.Base(full)+".rekey-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(name)
		}
	}()
	if err := tmp.Chmod(perm); err != nil {
		return err
	}
	if _, err := tmp.Write(content); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(name, full); err != nil {
		return err
	}
	ok = true
	return nil
}
