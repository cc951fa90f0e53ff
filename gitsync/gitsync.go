// Package gitsync opens, clones and fetches the desired-state Git repository
// and reads files from it at a given commit. It is built on go-git and never
// runs the git binary (file:// URLs are served in-process, see transport.go).
//
// A source is either a local path (a working tree or a bare repository, opened
// in place and never fetched) or a URL (file://, http(s)://, ssh:// or the
// scp-like user@host:path form), which is cloned bare into a cache directory
// and fetched on Open and on Fetch.
package gitsync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// ErrNotFound is matched (errors.Is) by errors for a ref, commit or file that
// does not exist in the repository.
var ErrNotFound = errors.New("not found")

// ErrAmbiguous is matched (errors.Is) by errors for a ref or short hash that
// names more than one commit.
var ErrAmbiguous = errors.New("ambiguous")

const (
	remoteName = "origin"
	// remoteHead is where the remote's default branch is recorded for URL
	// sources, as a symbolic ref to the remote-tracking branch.
	remoteHead = plumbing.ReferenceName("refs/remotes/" + remoteName + "/HEAD")
)

// fetchRefSpecs mirror the remote's branches as remote-tracking refs and its
// tags as tags; both are forced and pruned, so the cache follows force-pushes
// and deletions.
var fetchRefSpecs = []config.RefSpec{
	config.RefSpec("+refs/heads/*:refs/remotes/" + remoteName + "/*"),
	config.RefSpec("+refs/tags/*:refs/tags/*"),
}

// Signature is the author or committer of a commit.
type Signature struct {
	Name  string
	Email string
	When  time.Time
}

// Commit describes one commit. Message is the full message as stored (it
// usually ends with a newline).
type Commit struct {
	Hash      string
	Author    Signature
	Committer Signature
	Message   string
}

// Option configures Open.
type Option func(*options)

type options struct {
	cacheDir   string
	auth       transport.AuthMethod
	progress   io.Writer
	sshTimeout time.Duration // <= 0: DefaultSSHHandshakeTimeout
}

// WithCacheDir sets the directory under which URL sources are cloned; each
// URL gets its own subdirectory, reused (and fetched) by later calls. It is
// required for URL sources and ignored for local paths.
func WithCacheDir(dir string) Option { return func(o *options) { o.cacheDir = dir } }

// WithAuth sets the credentials used to clone and fetch URL sources.
func WithAuth(auth transport.AuthMethod) Option { return func(o *options) { o.auth = auth } }

// WithProgress sets where the remote's progress messages are written while
// cloning and fetching.
func WithProgress(w io.Writer) Option { return func(o *options) { o.progress = w } }

// Repo is an opened repository. Its methods are safe for concurrent use.
type Repo struct {
	mu      sync.Mutex
	repo    *git.Repository
	remote  bool   // cloned from a URL into the cache
	url     string // the URL as given (may hold credentials); only for the transport
	display string // the source without credentials, for messages
	dir     string // local path or cache directory
	opts    options
	secrets []replacement // applied to error messages
}

// Open opens source. Local paths are opened in place. URLs are cloned bare
// into a subdirectory of the cache directory (WithCacheDir), or, when a clone
// is already there, opened and fetched.
func Open(ctx context.Context, source string, opts ...Option) (*Repo, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if source == "" {
		return nil, errors.New("failed to open repository: empty source")
	}
	if !isURL(source) {
		return openLocal(source, o)
	}
	r := &Repo{remote: true, url: source, display: redactURL(source), opts: o}
	r.secrets = secretsOf(source, o.auth)
	if o.cacheDir == "" {
		return nil, fmt.Errorf("failed to open repository %s: a cache directory is required for URL sources", r.display)
	}
	if err := r.openCache(ctx); err != nil {
		return nil, r.scrub(fmt.Errorf("failed to open repository %s: %w", r.display, err))
	}
	return r, nil
}

func openLocal(source string, o options) (*Repo, error) {
	dir, err := filepath.Abs(source)
	if err != nil {
		return nil, fmt.Errorf("failed to open repository %s: %w", source, err)
	}
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
	if err != nil {
		if errors.Is(err, git.ErrRepositoryNotExists) {
			return nil, fmt.Errorf("failed to open repository %s: no git repository at this path", dir)
		}
		return nil, fmt.Errorf("failed to open repository %s: %w", dir, err)
	}
	return &Repo{repo: repo, display: dir, dir: dir, opts: o}, nil
}

// Dir returns the directory holding the repository: the local path as given
// (made absolute), or the clone in the cache directory for URL sources.
func (r *Repo) Dir() string { return r.dir }

// String returns the source without credentials.
func (r *Repo) String() string { return r.display }

// openCache opens the clone of r.url in the cache directory and fetches, or
// creates it. A new clone is built in a temporary directory and renamed into
// place once the first fetch succeeded, so the cache never holds a partial
// clone under its final name.
func (r *Repo) openCache(ctx context.Context) error {
	if err := os.MkdirAll(r.opts.cacheDir, 0o700); err != nil {
		return fmt.Errorf("failed to create cache directory: %w", err)
	}
	cacheDir, err := filepath.Abs(r.opts.cacheDir)
	if err != nil {
		return fmt.Errorf("failed to resolve cache directory: %w", err)
	}
	r.dir = filepath.Join(cacheDir, cacheKey(r.display))

	if _, err := os.Stat(r.dir); err == nil {
		repo, err := git.PlainOpen(r.dir)
		if err != nil {
			return fmt.Errorf("failed to open cached clone %s (remove it to clone again): %w", r.dir, err)
		}
		r.repo = repo
		return r.fetch(ctx)
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("failed to inspect cached clone %s: %w", r.dir, err)
	}

	tmp, err := os.MkdirTemp(cacheDir, ".clone-")
	if err != nil {
		return fmt.Errorf("failed to create temporary clone directory: %w", err)
	}
	defer os.RemoveAll(tmp) // no-op after a successful rename
	repo, err := git.PlainInit(tmp, true)
	if err != nil {
		return fmt.Errorf("failed to initialise clone: %w", err)
	}
	// The configured remote holds the URL without credentials; fetches use
	// an in-memory remote with the URL as given.
	if _, err := repo.CreateRemote(&config.RemoteConfig{
		Name: remoteName, URLs: []string{r.display}, Fetch: fetchRefSpecs,
	}); err != nil {
		return fmt.Errorf("failed to configure clone: %w", err)
	}
	r.repo = repo
	if err := r.fetch(ctx); err != nil {
		return err
	}
	if err := os.Rename(tmp, r.dir); err != nil {
		// Another process may have finished the same clone first.
		if _, statErr := os.Stat(r.dir); statErr != nil {
			return fmt.Errorf("failed to move clone into place: %w", err)
		}
	}
	repo, err = git.PlainOpen(r.dir)
	if err != nil {
		return fmt.Errorf("failed to open cached clone %s: %w", r.dir, err)
	}
	r.repo = repo
	return nil
}

// Fetch updates a URL source from its remote: branches, tags and the
// remote's default branch. Refs deleted or rewritten on the remote follow.
// It is a no-op for local paths.
func (r *Repo) Fetch(ctx context.Context) error {
	if !r.remote {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.fetch(ctx); err != nil {
		return r.scrub(fmt.Errorf("failed to fetch %s: %w", r.display, err))
	}
	return nil
}

func (r *Repo) fetch(ctx context.Context) error {
	remote := git.NewRemote(r.repo.Storer, &config.RemoteConfig{
		Name: remoteName, URLs: []string{r.url}, Fetch: fetchRefSpecs,
	})
	proxyOpts, done := r.sshOperation(ctx)
	defer done()
	refs, err := remote.ListContext(ctx, &git.ListOptions{Auth: r.opts.auth, PeelingOption: git.IgnorePeeled, ProxyOptions: proxyOpts})
	if err != nil {
		if errors.Is(err, transport.ErrEmptyRemoteRepository) {
			return errors.New("the remote repository is empty")
		}
		return withContextErr(ctx, err)
	}
	err = remote.FetchContext(ctx, &git.FetchOptions{
		RemoteName:   remoteName,
		RefSpecs:     fetchRefSpecs,
		Auth:         r.opts.auth,
		Progress:     r.opts.progress,
		Tags:         git.NoTags,
		Force:        true,
		Prune:        true,
		ProxyOptions: proxyOpts,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return withContextErr(ctx, err)
	}
	return r.setRemoteHead(refs)
}

// setRemoteHead records the remote's default branch as the symbolic ref
// refs/remotes/origin/HEAD (or removes it when the remote has none).
func (r *Repo) setRemoteHead(refs []*plumbing.Reference) error {
	for _, ref := range refs {
		if ref.Name() != plumbing.HEAD || ref.Type() != plumbing.SymbolicReference {
			continue
		}
		branch, ok := strings.CutPrefix(ref.Target().String(), "refs/heads/")
		if !ok {
			break
		}
		target := plumbing.NewRemoteReferenceName(remoteName, branch)
		if err := r.repo.Storer.SetReference(plumbing.NewSymbolicReference(remoteHead, target)); err != nil {
			return fmt.Errorf("failed to record the remote default branch: %w", err)
		}
		return nil
	}
	if err := r.repo.Storer.RemoveReference(remoteHead); err != nil && !errors.Is(err, plumbing.ErrReferenceNotFound) {
		return fmt.Errorf("failed to clear the remote default branch: %w", err)
	}
	return nil
}

// cacheKey names the cache subdirectory for a URL (without credentials): a
// readable base name and a hash of the whole URL.
func cacheKey(display string) string {
	sum := sha256.Sum256([]byte(display))
	base := display
	if i := strings.LastIndexAny(strings.TrimRight(base, "/"), "/:"); i >= 0 {
		base = base[i+1:]
	}
	base = strings.Map(func(c rune) rune {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
			return c
		}
		return '_'
	}, strings.TrimSuffix(strings.TrimRight(base, "/"), ".git"))
	base = strings.TrimLeft(base, ".")
	if len(base) > 40 {
		base = base[:40]
	}
	if base == "" {
		base = "repo"
	}
	return base + "-" + hex.EncodeToString(sum[:8])
}
