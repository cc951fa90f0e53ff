package gitsync

// Building the new commit's tree from the parent's tree and the changes, objects written to the store.

import (
	"fmt"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// treeNode is a directory of the new tree while it is built: the entries of
// the old tree (if any) with changed files replaced and changed directories
// expanded.
type treeNode struct {
	entries map[string]object.TreeEntry
	subdirs map[string]*treeNode // directories with changes below them
}

// buildTree writes the blobs and trees for changes on top of base's tree and
// returns the changes with their blobs and the new root tree hash.
func (r *Repo) buildTree(base *object.Commit, changes []Change) ([]pendingChange, plumbing.Hash, error) {
	baseTree, err := base.Tree()
	if err != nil {
		return nil, plumbing.ZeroHash, fmt.Errorf("failed to read the tree of %s: %w", base.Hash, err)
	}
	root := newTreeNode(baseTree)
	seen := map[string]bool{}
	var pending []pendingChange
	for _, ch := range changes {
		p, err := cleanPath(ch.Path)
		if err != nil {
			return nil, plumbing.ZeroHash, err
		}
		if p == "" {
			return nil, plumbing.ZeroHash, fmt.Errorf("path %q names the repository root, not a file", ch.Path)
		}
		if seen[p] {
			return nil, plumbing.ZeroHash, fmt.Errorf("path %q is changed twice", p)
		}
		seen[p] = true
		for _, part := range strings.Split(p, "/") {
			if strings.EqualFold(part, ".git") {
				return nil, plumbing.ZeroHash, fmt.Errorf("path %q is inside .git", p)
			}
		}

		dirs := strings.Split(p, "/")
		name := dirs[len(dirs)-1]
		dirs = dirs[:len(dirs)-1]
		node := root
		for i, d := range dirs {
			if node, err = r.subdir(node, d); err != nil {
				return nil, plumbing.ZeroHash, fmt.Errorf("cannot write %q: %s: %w", p, strings.Join(dirs[:i+1], "/"), err)
			}
		}
		if _, isDir := node.subdirs[name]; isDir {
			return nil, plumbing.ZeroHash, fmt.Errorf("cannot write %q: it is a directory", p)
		}
		pc := pendingChange{path: p, content: ch.Content, mode: filemode.Regular}
		if old, ok := node.entries[name]; ok {
			switch old.Mode {
			case filemode.Regular, filemode.Executable:
				pc.mode = old.Mode
			case filemode.Deprecated:
				pc.mode = filemode.Regular
			case filemode.Dir:
				return nil, plumbing.ZeroHash, fmt.Errorf("cannot write %q: it is a directory", p)
			default:
				return nil, plumbing.ZeroHash, fmt.Errorf("cannot write %q: it is a %s, not a regular file", p, modeName(old.Mode))
			}
			o := old
			pc.old = &o
		}
		if pc.blob, err = r.writeBlob(ch.Content); err != nil {
			return nil, plumbing.ZeroHash, fmt.Errorf("failed to write the content of %q: %w", p, err)
		}
		node.entries[name] = object.TreeEntry{Name: name, Mode: pc.mode, Hash: pc.blob}
		pending = append(pending, pc)
	}
	h, err := r.writeTree(root)
	if err != nil {
		return nil, plumbing.ZeroHash, err
	}
	if h == baseTree.Hash {
		return nil, plumbing.ZeroHash, fmt.Errorf("%w: the files already have this content at %s", ErrNoChanges, base.Hash)
	}
	return pending, h, nil
}

func modeName(m filemode.FileMode) string {
	switch m {
	case filemode.Symlink:
		return "symlink"
	case filemode.Submodule:
		return "submodule"
	}
	return "file of mode " + m.String()
}

func newTreeNode(t *object.Tree) *treeNode {
	n := &treeNode{entries: map[string]object.TreeEntry{}, subdirs: map[string]*treeNode{}}
	if t != nil {
		for _, e := range t.Entries {
			n.entries[e.Name] = e
		}
	}
	return n
}

// subdir returns the node of directory name under n, creating it when the
// directory does not exist.
func (r *Repo) subdir(n *treeNode, name string) (*treeNode, error) {
	if sub, ok := n.subdirs[name]; ok {
		return sub, nil
	}
	var t *object.Tree
	if e, ok := n.entries[name]; ok {
		if e.Mode != filemode.Dir {
			return nil, fmt.Errorf("not a directory")
		}
		var err error
		if t, err = r.repo.TreeObject(e.Hash); err != nil {
			return nil, fmt.Errorf("failed to read tree %s: %w", e.Hash, err)
		}
	}
	sub := newTreeNode(t)
	n.subdirs[name] = sub
	return sub, nil
}

func (r *Repo) writeBlob(content []byte) (plumbing.Hash, error) {
	obj := r.repo.Storer.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	obj.SetSize(int64(len(content)))
	w, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := w.Write(content); err != nil {
		w.Close()
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	return r.repo.Storer.SetEncodedObject(obj)
}

// writeTree writes n (after its changed subdirectories) and returns its hash.
// Entries are sorted as git sorts them: by name, directories as if their
// name ended in a slash.
func (r *Repo) writeTree(n *treeNode) (plumbing.Hash, error) {
	for name, sub := range n.subdirs {
		h, err := r.writeTree(sub)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		n.entries[name] = object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: h}
	}
	t := &object.Tree{}
	for _, e := range n.entries {
		t.Entries = append(t.Entries, e)
	}
	sortKey := func(e object.TreeEntry) string {
		if e.Mode == filemode.Dir {
			return e.Name + "/"
		}
		return e.Name
	}
	sort.Slice(t.Entries, func(i, j int) bool { return sortKey(t.Entries[i]) < sortKey(t.Entries[j]) })
	obj := r.repo.Storer.NewEncodedObject()
	if err := t.Encode(obj); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("failed to encode a tree: %w", err)
	}
	h, err := r.repo.Storer.SetEncodedObject(obj)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("failed to write a tree: %w", err)
	}
	return h, nil
}
