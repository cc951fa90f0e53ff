package gitsync

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
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
