package gitsync

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage"
	"golang.org/x/crypto/ssh"
)

// ErrPushRejected is matched (errors.Is) by Commit errors for a URL source
// when the remote refused to update the branch: it is no longer at the parent
// (someone pushed meanwhile: a non-fast-forward update, which also matches
// ErrBranchMoved), a hook declined the update, or the branch is checked out
// in a non-bare file:// repository. The remote branch is unchanged.
var ErrPushRejected = errors.New("push rejected")

// ErrBranchMoved is matched (errors.Is) by Commit errors when the branch no
// longer points at the parent the changes were made on: locally, or on the
// remote (those errors also match ErrPushRejected). Resolve again (after a
// Fetch), rebuild the changes and retry.
var ErrBranchMoved = errors.New("branch moved")

// ErrDirty is matched (errors.Is) by Commit errors for a local working tree
// in which a path to change has uncommitted changes (staged, unstaged,
// untracked or conflicted).
var ErrDirty = errors.New("uncommitted changes")

// ErrNoChanges is matched (errors.Is) by Commit errors when the changes leave
// the parent's tree as it is.
var ErrNoChanges = errors.New("nothing to commit")

// Change is one file to write: a slash-separated path relative to the
// repository root and the new full content.
type Change struct {
	Path    string
	Content []byte
}

// Author is the identity Commit records as author and committer, and the key
// that signs its commits, if any (at most one of Signer and OpenPGPKey).
// SetSigningKey sets either from a private key file.
type Author struct {
	Name  string
	Email string
	// Signer, when set, signs the commit with SSH (namespace git, SHA-512), so that an agent that only
	// accepts signed commits also accepts its own write-backs once this key is trusted.
	Signer ssh.Signer
	// OpenPGPKey, when set, signs the commit with OpenPGP (a detached signature by its signing key or
	// subkey, as git makes with gpg.format=openpgp). Its private signing key must not be encrypted.
	OpenPGPKey *openpgp.Entity
}

// commitError is a Commit error matching some of the sentinels above.
type commitError struct {
	msg   string
	kinds []error
	cause error
}

func (e *commitError) Error() string { return e.msg }

func (e *commitError) Unwrap() []error {
	errs := append([]error{}, e.kinds...)
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

// Commit writes changes as one new commit whose only parent is parent (a full
// commit hash, normally the commit just resolved from branch) and publishes it
// on branch (a branch name, or refs/heads/<name>). Author and committer are
// author, both dated now. Changed files keep their mode in the tree; new files
// are regular (0644) files. It returns the new commit.
//
// For a URL source the commit is created in the cached clone and pushed to
// refs/heads/<branch> on the remote, without force and only if the remote
// branch is still at parent (otherwise the error matches ErrPushRejected and
// ErrBranchMoved). Credentials from the URL or WithAuth are used for the push
// and never appear in errors. The remote-tracking ref of the cache moves only
// after the push succeeded; on any error the remote is unchanged.
//
// For a local path Commit refuses, with the repository unchanged, when the
// branch is not at parent (ErrBranchMoved) or, when the branch is checked out,
// when a path to change has uncommitted changes (ErrDirty). Otherwise it
// updates the branch and, when it is checked out, the working tree files and
// the index entries for the changed paths, so that they stay clean; other
// uncommitted changes are left alone.
func (r *Repo) Commit(ctx context.Context, branch, parent string, changes []Change, message string, author Author) (Commit, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.commit(ctx, branch, parent, changes, message, author)
	if err != nil {
		return Commit{}, r.scrub(fmt.Errorf("failed to commit to branch %q of %s: %w", branch, r.display, err))
	}
	return c, nil
}

// pendingChange is a validated change with its blob written.
type pendingChange struct {
	path    string // clean, slash-separated
	content []byte
	blob    plumbing.Hash
	mode    filemode.FileMode // in the new tree
	old     *object.TreeEntry // in the parent tree, nil when new
}

func (r *Repo) commit(ctx context.Context, branch, parent string, changes []Change, message string, author Author) (Commit, error) {
	if err := ctx.Err(); err != nil {
		return Commit{}, err
	}
	branchRef, err := branchRefName(branch)
	if err != nil {
		return Commit{}, err
	}
	parent = strings.ToLower(parent)
	if !isHex(parent) || len(parent) != 2*len(plumbing.ZeroHash) {
		return Commit{}, fmt.Errorf("parent %q is not a full commit hash", parent)
	}
	if len(changes) == 0 {
		return Commit{}, fmt.Errorf("%w: no changes given", ErrNoChanges)
	}
	if strings.TrimSpace(message) == "" {
		return Commit{}, errors.New("the commit message is empty")
	}
	if !strings.HasSuffix(message, "\n") {
		message += "\n"
	}
	if err := checkIdentity(author); err != nil {
		return Commit{}, err
	}

	if !r.remote {
		r.reopen() // see refs, packs and the index as they are now
	}
	parentHash := plumbing.NewHash(parent)
	base, err := r.peel(parentHash)
	if err != nil {
		return Commit{}, fmt.Errorf("failed to read parent: %w", err)
	}
	if base.Hash != parentHash {
		return Commit{}, fmt.Errorf("parent %s is not a commit", parent)
	}

	var local localState
	if !r.remote {
		// Check before writing anything, so a refusal leaves the repository
		// as it was (objects included).
		if local, err = r.checkLocal(branchRef, base, changes); err != nil {
			return Commit{}, err
		}
	}

	pending, treeHash, err := r.buildTree(base, changes)
	if err != nil {
		return Commit{}, err
	}
	now := time.Now()
	sig := object.Signature{Name: author.Name, Email: author.Email, When: now}
	c := &object.Commit{
		Author:       sig,
		Committer:    sig,
		Message:      message,
		TreeHash:     treeHash,
		ParentHashes: []plumbing.Hash{base.Hash},
	}
	if err := signAs(c, author); err != nil {
		return Commit{}, err
	}
	obj := r.repo.Storer.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		return Commit{}, fmt.Errorf("failed to encode the commit: %w", err)
	}
	c.Hash, err = r.repo.Storer.SetEncodedObject(obj)
	if err != nil {
		return Commit{}, fmt.Errorf("failed to write the commit: %w", err)
	}

	if r.remote {
		err = r.push(ctx, branchRef, base.Hash, c.Hash)
	} else {
		err = r.publishLocal(local, branchRef, base.Hash, c.Hash, pending)
	}
	if err != nil {
		return Commit{}, err
	}
	return toCommit(c), nil
}

func branchRefName(branch string) (plumbing.ReferenceName, error) {
	name := strings.TrimPrefix(branch, "refs/heads/")
	if name == "" || name == "HEAD" || strings.HasPrefix(name, "-") {
		return "", fmt.Errorf("invalid branch name %q", branch)
	}
	ref := plumbing.NewBranchReferenceName(name)
	if err := ref.Validate(); err != nil {
		return "", fmt.Errorf("invalid branch name %q", branch)
	}
	return ref, nil
}

func checkIdentity(a Author) error {
	for what, v := range map[string]string{"name": a.Name, "email": a.Email} {
		if strings.TrimSpace(v) == "" {
			return fmt.Errorf("the author %s is empty", what)
		}
		if strings.ContainsAny(v, "<>\n\r\x00") {
			return fmt.Errorf("the author %s contains '<', '>' or a control character", what)
		}
	}
	return checkSigningKey(a)
}

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

// push publishes commit on the remote branch, which must be at parent, and
// then moves the remote-tracking ref of the cache.
func (r *Repo) push(ctx context.Context, branchRef plumbing.ReferenceName, parent, commit plumbing.Hash) error {
	if err := r.checkFileRemote(branchRef); err != nil {
		return err
	}
	remote := git.NewRemote(r.repo.Storer, &config.RemoteConfig{
		Name: remoteName, URLs: []string{r.url}, Fetch: fetchRefSpecs,
	})
	proxyOpts, done := r.sshOperation(ctx)
	defer done()
	err := remote.PushContext(ctx, &git.PushOptions{
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{config.RefSpec(commit.String() + ":" + branchRef.String())},
		// Compare-and-swap: the remote branch must still be at parent. A
		// later commit on the remote would make this push a fast-forward
		// only if parent were behind it, which it must not be either.
		RequireRemoteRefs: []config.RefSpec{config.RefSpec(parent.String() + ":" + branchRef.String())},
		Auth:              r.opts.auth,
		Progress:          r.opts.progress,
		ProxyOptions:      proxyOpts,
	})
	if err != nil {
		return classifyPushError(branchRef, parent, withContextErr(ctx, err))
	}
	tracking := plumbing.NewRemoteReferenceName(remoteName, branchRef.Short())
	if err := r.repo.Storer.SetReference(plumbing.NewHashReference(tracking, commit)); err != nil {
		return fmt.Errorf("pushed %s, but failed to update %s in the cache: %w", commit, tracking, err)
	}
	return nil
}

// classifyPushError turns go-git's push errors into typed ones. go-git
// reports these cases only as message text: its own checks ("remote ref ...
// required to be ...", "non-fast-forward update: ...") and the statuses the
// remote returns per ref ("command error on <ref>: <status>").
func classifyPushError(branchRef plumbing.ReferenceName, parent plumbing.Hash, err error) error {
	msg := err.Error()
	moved := func() error {
		return &commitError{
			msg:   fmt.Sprintf("push rejected: the remote branch %s is no longer at %s (someone pushed meanwhile; fetch and retry): %s", branchRef.Short(), parent, msg),
			kinds: []error{ErrPushRejected, ErrBranchMoved},
			cause: err,
		}
	}
	switch {
	case strings.Contains(msg, "remote ref "+branchRef.String()+" required to be") && strings.HasSuffix(msg, "but is absent"):
		return &commitError{
			msg:   fmt.Sprintf("push rejected: the remote has no branch %s (deleted meanwhile?)", branchRef.Short()),
			kinds: []error{ErrPushRejected, ErrBranchMoved},
			cause: err,
		}
	case strings.Contains(msg, "remote ref "+branchRef.String()+" required to be"):
		return moved()
	case strings.Contains(msg, "non-fast-forward update"):
		return moved()
	}
	if status, ok := strings.CutPrefix(msg, "command error on "+branchRef.String()+": "); ok {
		for _, s := range []string{"non-fast-forward", "fetch first", "stale info", "failed to update ref", "failed to lock", "cannot lock ref", "already exists"} {
			if strings.Contains(status, s) {
				return moved()
			}
		}
		return &commitError{
			msg:   fmt.Sprintf("push rejected by the remote: %s", status),
			kinds: []error{ErrPushRejected},
			cause: err,
		}
	}
	return fmt.Errorf("failed to push: %w", err)
}

// checkFileRemote refuses to push to a branch checked out in a non-bare
// repository named by a file:// URL, as git does (receive.denyCurrentBranch):
// go-git's in-process server would move the branch under the working tree.
func (r *Repo) checkFileRemote(branchRef plumbing.ReferenceName) error {
	ep, err := transport.NewEndpoint(r.url)
	if err != nil || ep.Protocol != "file" {
		return nil
	}
	target, err := git.PlainOpenWithOptions(ep.Path, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
	if err != nil {
		return nil // the push reports it
	}
	if _, err := target.Worktree(); err != nil {
		return nil // bare
	}
	head, err := target.Storer.Reference(plumbing.HEAD)
	if err == nil && head.Type() == plumbing.SymbolicReference && head.Target() == branchRef {
		return &commitError{
			msg:   fmt.Sprintf("push rejected: branch %s is checked out in the non-bare repository %s", branchRef.Short(), r.display),
			kinds: []error{ErrPushRejected},
		}
	}
	return nil
}

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
