package gitsync

import (
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport/http"
	"golang.org/x/crypto/ssh"
)

var rekeyBot = Author{Name: "rekey bot", Email: "rekey@example.test"}

// serveHTTPPush serves the bare repositories under root with git
// http-backend, pushes allowed (REMOTE_USER set, http.receivepack true in
// each repository), and returns the server so a test can close it.
func (f *fixture) serveHTTPPush(root string) *httptest.Server {
	f.t.Helper()
	entries, err := os.ReadDir(root)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".git") {
			f.git(filepath.Join(root, e.Name()), "config", "http.receivepack", "true")
		}
	}
	h := &cgi.Handler{
		Path:   gitBin,
		Stderr: io.Discard,
		Args:   []string{"http-backend"},
		Env: append(f.env(),
			"GIT_PROJECT_ROOT="+root,
			"GIT_HTTP_EXPORT_ALL=1",
			"REMOTE_USER=rekey-test",
		),
	}
	srv := httptest.NewServer(h)
	f.t.Cleanup(srv.Close)
	return srv
}

// checkCommitted checks with the git CLI that branch in dir is at want, a
// child of parent by rekeyBot, and holds files (path → content).
func (f *fixture) checkCommitted(dir, branch, want, parent, msg string, files map[string]string) {
	f.t.Helper()
	if got := f.git(dir, "rev-parse", branch); got != want {
		f.t.Fatalf("%s = %s, want the new commit %s", branch, got, want)
	}
	got := f.git(dir, "log", "-1", "--format=%P|%an|%ae|%cn|%ce|%B", want)
	if wantLog := parent + "|rekey bot|rekey@example.test|rekey bot|rekey@example.test|" + msg; got != wantLog {
		f.t.Errorf("commit = %q, want %q", got, wantLog)
	}
	when := f.git(dir, "log", "-1", "--format=%at", want)
	if when < "1700000000" || len(when) != 10 {
		f.t.Errorf("author time = %s", when)
	}
	for p, content := range files {
		if got := f.git(dir, "show", want+":"+p); got != strings.TrimSpace(content) {
			f.t.Errorf("%s at %s = %q, want %q", p, want, got, content)
		}
	}
	f.git(dir, "fsck", "--strict", "--no-progress")
}

func TestCommitFileURL(t *testing.T) {
	f := newFixture(t)
	work := f.initRepo()
	f.commit(work, "first", map[string]string{"secrets.sops.yaml": "old: 1\n", "dir/keep.txt": "keep\n", "run.sh": "#!/bin/sh\n"})
	f.git(work, "update-index", "--chmod=+x", "run.sh")
	c1 := f.commit(work, "exec", nil)
	origin := f.bareClone(work)
	hideGit(t) // the package must not need the git binary
	ctx := context.Background()

	r, err := Open(ctx, "file://"+origin, WithCacheDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	head := mustResolve(t, r, "main")
	if head.Hash != c1 {
		t.Fatalf("main = %s, want %s", head.Hash, c1)
	}
	before := time.Now().Add(-time.Second)
	c, err := r.Commit(ctx, "main", head.Hash, []Change{
		{Path: "secrets.sops.yaml", Content: []byte("new: 2\n")},
		{Path: "run.sh", Content: []byte("#!/bin/sh\necho rotated\n")},
		{Path: "dir/sub/new.yaml", Content: []byte("fresh\n")},
	}, "rotate session-key", rekeyBot)
	if err != nil {
		t.Fatal(err)
	}
	if c.Author.Name != "rekey bot" || c.Committer.Email != "rekey@example.test" || c.Author.When.Before(before) ||
		c.Message != "rotate session-key\n" {
		t.Errorf("commit = %+v", c)
	}
	f.checkCommitted(origin, "main", c.Hash, c1, "rotate session-key", map[string]string{
		"secrets.sops.yaml": "new: 2\n", "run.sh": "#!/bin/sh\necho rotated\n",
		"dir/sub/new.yaml": "fresh\n", "dir/keep.txt": "keep\n",
	})
	tree := f.git(origin, "ls-tree", "-r", c.Hash)
	for _, want := range []string{"100755 blob", "run.sh", "100644 blob"} {
		if !strings.Contains(tree, want) {
			t.Errorf("tree lacks %q:\n%s", want, tree)
		}
	}
	for _, line := range strings.Split(tree, "\n") {
		if strings.HasSuffix(line, "\trun.sh") && !strings.HasPrefix(line, "100755 ") ||
			strings.HasSuffix(line, "\tdir/sub/new.yaml") && !strings.HasPrefix(line, "100644 ") ||
			strings.HasSuffix(line, "\tsecrets.sops.yaml") && !strings.HasPrefix(line, "100644 ") {
			t.Errorf("wrong mode: %s", line)
		}
	}
	// The cache follows: the branch resolves to the new commit without a fetch.
	if got := mustResolve(t, r, "main").Hash; got != c.Hash {
		t.Errorf("cache main = %s, want %s", got, c.Hash)
	}
	if got := mustRead(t, r, c.Hash, "dir/sub/new.yaml"); got != "fresh\n" {
		t.Errorf("ReadFile = %q", got)
	}

	// The same parent again: the remote moved (by our own push).
	_, err = r.Commit(ctx, "main", c1, []Change{{Path: "secrets.sops.yaml", Content: []byte("new: 3\n")}}, "again", rekeyBot)
	if !errors.Is(err, ErrPushRejected) || !errors.Is(err, ErrBranchMoved) {
		t.Errorf("stale parent: err = %v", err)
	}
	if got := f.git(origin, "rev-parse", "main"); got != c.Hash {
		t.Errorf("origin main moved to %s", got)
	}

	// Bad input is refused before anything is written.
	for name, tc := range map[string]struct {
		branch, parent string
		changes        []Change
		msg            string
		author         Author
		target         error
	}{
		"no changes":       {"main", c.Hash, nil, "m", rekeyBot, ErrNoChanges},
		"same content":     {"main", c.Hash, []Change{{Path: "dir/keep.txt", Content: []byte("keep\n")}}, "m", rekeyBot, ErrNoChanges},
		"short parent":     {"main", c.Hash[:8], []Change{{Path: "a", Content: []byte("x")}}, "m", rekeyBot, nil},
		"unknown parent":   {"main", strings.Repeat("ab", 20), []Change{{Path: "a", Content: []byte("x")}}, "m", rekeyBot, ErrNotFound},
		"outside":          {"main", c.Hash, []Change{{Path: "../a", Content: []byte("x")}}, "m", rekeyBot, nil},
		"dot git":          {"main", c.Hash, []Change{{Path: ".git/config", Content: []byte("x")}}, "m", rekeyBot, nil},
		"directory":        {"main", c.Hash, []Change{{Path: "dir", Content: []byte("x")}}, "m", rekeyBot, nil},
		"under a file":     {"main", c.Hash, []Change{{Path: "run.sh/x", Content: []byte("x")}}, "m", rekeyBot, nil},
		"twice":            {"main", c.Hash, []Change{{Path: "a", Content: []byte("x")}, {Path: "./a", Content: []byte("y")}}, "m", rekeyBot, nil},
		"empty message":    {"main", c.Hash, []Change{{Path: "a", Content: []byte("x")}}, " \n", rekeyBot, nil},
		"bad author":       {"main", c.Hash, []Change{{Path: "a", Content: []byte("x")}}, "m", Author{Name: "x>", Email: "e"}, nil},
		"bad branch":       {"ma..in", c.Hash, []Change{{Path: "a", Content: []byte("x")}}, "m", rekeyBot, nil},
		"missing branch":   {"nope", c.Hash, []Change{{Path: "a", Content: []byte("x")}}, "m", rekeyBot, ErrPushRejected},
		"empty branch arg": {"", c.Hash, []Change{{Path: "a", Content: []byte("x")}}, "m", rekeyBot, nil},
	} {
		_, err := r.Commit(ctx, tc.branch, tc.parent, tc.changes, tc.msg, tc.author)
		if err == nil || tc.target != nil && !errors.Is(err, tc.target) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.target)
		}
		t.Logf("%s: %v", name, err)
	}
	if got := f.git(origin, "rev-parse", "main"); got != c.Hash {
		t.Errorf("origin main moved to %s", got)
	}
	if refs := f.git(origin, "for-each-ref", "--format=%(refname)"); refs != "refs/heads/main" {
		t.Errorf("origin refs = %q", refs)
	}
}

func TestCommitFileURLCheckedOutBranch(t *testing.T) {
	f := newFixture(t)
	work := f.initRepo()
	c1 := f.commit(work, "first", map[string]string{"a.txt": "a\n"})
	ctx := context.Background()
	r, err := Open(ctx, "file://"+work, WithCacheDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Commit(ctx, "main", c1, []Change{{Path: "a.txt", Content: []byte("b\n")}}, "m", rekeyBot)
	if !errors.Is(err, ErrPushRejected) || !strings.Contains(err.Error(), "checked out") {
		t.Fatalf("err = %v", err)
	}
	if got := f.git(work, "rev-parse", "main"); got != c1 {
		t.Errorf("main moved to %s", got)
	}
}

func TestCommitHTTP(t *testing.T) {
	f := newFixture(t)
	work := f.initRepo()
	c1 := f.commit(work, "first", map[string]string{"secrets.sops.yaml": "old\n"})
	origin := f.bareClone(work)
	srv := f.serveHTTPPush(filepath.Dir(origin))
	withCreds := strings.Replace(srv.URL, "http://", "http://deploy:s3cr3t-pw@", 1) + "/repo.git"
	auth := WithAuth(&http.BasicAuth{Username: "u", Password: "auth-pa55"})
	ctx := context.Background()

	r, err := Open(ctx, withCreds, WithCacheDir(t.TempDir()), auth)
	if err != nil {
		t.Fatal(err)
	}
	parent := mustResolve(t, r, "main").Hash
	c, err := r.Commit(ctx, "main", parent, []Change{{Path: "secrets.sops.yaml", Content: []byte("new\n")}},
		"rotate webhook-token\n\nby rekey", rekeyBot)
	if err != nil {
		t.Fatal(err)
	}
	f.checkCommitted(origin, "main", c.Hash, c1, "rotate webhook-token\n\nby rekey", map[string]string{"secrets.sops.yaml": "new\n"})
	if got := mustResolve(t, r, "main").Hash; got != c.Hash {
		t.Errorf("cache main = %s, want %s", got, c.Hash)
	}

	// Someone else pushes meanwhile; the cache has not fetched it.
	other := filepath.Join(t.TempDir(), "other")
	f.git(filepath.Dir(other), "clone", "-q", srv.URL+"/repo.git", other)
	theirs := f.commit(other, "theirs", map[string]string{"secrets.sops.yaml": "theirs\n"})
	f.git(other, "push", "-q", "origin", "main")

	_, err = r.Commit(ctx, "main", c.Hash, []Change{{Path: "secrets.sops.yaml", Content: []byte("newer\n")}}, "rotate again", rekeyBot)
	if !errors.Is(err, ErrPushRejected) || !errors.Is(err, ErrBranchMoved) {
		t.Fatalf("push over a moved branch: err = %v", err)
	}
	t.Logf("rejected: %v", err)
	for _, secret := range []string{"s3cr3t", "auth-pa55", "deploy:"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error leaks %q: %v", secret, err)
		}
	}
	if got := f.git(origin, "rev-parse", "main"); got != theirs {
		t.Errorf("origin main = %s, want it unchanged at %s", got, theirs)
	}
	if got := mustResolve(t, r, "main").Hash; got != c.Hash {
		t.Errorf("cache main moved to %s after a rejected push", got)
	}

	// After a fetch, committing on their commit works.
	if err := r.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	c3, err := r.Commit(ctx, "main", theirs, []Change{{Path: "secrets.sops.yaml", Content: []byte("newest\n")}}, "rotate again", rekeyBot)
	if err != nil {
		t.Fatal(err)
	}
	f.checkCommitted(origin, "main", c3.Hash, theirs, "rotate again", map[string]string{"secrets.sops.yaml": "newest\n"})
}

func TestCommitUnreachableRemote(t *testing.T) {
	f := newFixture(t)
	work := f.initRepo()
	f.commit(work, "first", map[string]string{"a.txt": "a\n"})
	origin := f.bareClone(work)
	srv := f.serveHTTPPush(filepath.Dir(origin))
	url := strings.Replace(srv.URL, "http://", "http://deploy:s3cr3t-pw@", 1) + "/repo.git"
	ctx := context.Background()
	r, err := Open(ctx, url, WithCacheDir(t.TempDir()), WithAuth(&http.BasicAuth{Username: "u", Password: "auth-pa55"}))
	if err != nil {
		t.Fatal(err)
	}
	parent := mustResolve(t, r, "main").Hash
	srv.Close() // the port is closed now

	_, err = r.Commit(ctx, "main", parent, []Change{{Path: "a.txt", Content: []byte("b\n")}}, "m", rekeyBot)
	if err == nil {
		t.Fatal("push to a closed port: no error")
	}
	t.Logf("unreachable: %v", err)
	if errors.Is(err, ErrPushRejected) || errors.Is(err, ErrBranchMoved) {
		t.Errorf("an unreachable remote is not a rejection: %v", err)
	}
	for _, secret := range []string{"s3cr3t", "auth-pa55", "deploy:"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error leaks %q: %v", secret, err)
		}
	}
	if !strings.HasPrefix(err.Error(), `failed to commit to branch "main" of http://127.0.0.1:`) {
		t.Errorf("err = %v", err)
	}
	if got := mustResolve(t, r, "main").Hash; got != parent {
		t.Errorf("cache main moved to %s", got)
	}
	ref, err := r.repo.Storer.Reference(plumbing.NewRemoteReferenceName(remoteName, "main"))
	if err != nil || ref.Hash().String() != parent {
		t.Errorf("refs/remotes/origin/main = %v, %v", ref, err)
	}
	if got := f.git(origin, "rev-parse", "main"); got != parent {
		t.Errorf("origin main moved to %s", got)
	}
}

func TestCommitWorkingTree(t *testing.T) {
	f := newFixture(t)
	dir := f.initRepo()
	f.commit(dir, "first", map[string]string{"secrets.sops.yaml": "old\n", "other.txt": "o\n", "keep/x.txt": "x\n"})
	c1 := f.git(dir, "rev-parse", "HEAD")
	if err := os.Chmod(filepath.Join(dir, "secrets.sops.yaml"), 0o600); err != nil {
		t.Fatal(err)
	}
	// An unrelated uncommitted change is allowed and kept.
	if err := os.WriteFile(filepath.Join(dir, "other.txt"), []byte("local edit\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.Commit(ctx, "main", c1, []Change{
		{Path: "secrets.sops.yaml", Content: []byte("new\n")},
		{Path: "keep/new/y.yaml", Content: []byte("y\n")},
	}, "rotate", rekeyBot)
	if err != nil {
		t.Fatal(err)
	}
	f.checkCommitted(dir, "main", c.Hash, c1, "rotate", map[string]string{"secrets.sops.yaml": "new\n", "keep/new/y.yaml": "y\n"})
	if got := f.git(dir, "rev-parse", "HEAD"); got != c.Hash {
		t.Errorf("HEAD = %s", got)
	}
	if st := f.git(dir, "status", "--porcelain", "--untracked-files=all"); st != "M other.txt" {
		t.Errorf("git status = %q, want only the unrelated edit", st)
	}
	for p, want := range map[string]string{"secrets.sops.yaml": "new\n", "keep/new/y.yaml": "y\n", "other.txt": "local edit\n"} {
		if got, err := os.ReadFile(filepath.Join(dir, p)); err != nil || string(got) != want {
			t.Errorf("%s on disk = %q, %v", p, got, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "secrets.sops.yaml")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("secrets.sops.yaml mode = %v, %v (want 0600 kept)", fi.Mode(), err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "keep/new/y.yaml")); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("new file mode = %v, %v", fi.Mode(), err)
	}
	f.git(dir, "checkout", "-q", "--", "other.txt")
	if st := f.git(dir, "status", "--porcelain", "--untracked-files=all"); st != "" {
		t.Errorf("git status = %q, want clean", st)
	}
	// The index is usable by git: a later commit keeps the rotated content.
	f.commit(dir, "later", map[string]string{"other.txt": "o2\n"})
	if got := f.git(dir, "show", "HEAD:secrets.sops.yaml"); got != "new" {
		t.Errorf("after a later git commit: secrets.sops.yaml = %q", got)
	}
	head := f.git(dir, "rev-parse", "HEAD")

	// The branch moved since it was resolved: refused, nothing written.
	_, err = r.Commit(ctx, "main", c.Hash, []Change{{Path: "secrets.sops.yaml", Content: []byte("newer\n")}}, "again", rekeyBot)
	if !errors.Is(err, ErrBranchMoved) || errors.Is(err, ErrPushRejected) {
		t.Fatalf("moved branch: err = %v", err)
	}
	t.Logf("moved: %v", err)
	if got := f.git(dir, "rev-parse", "main"); got != head {
		t.Errorf("main moved to %s", got)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "secrets.sops.yaml")); string(got) != "new\n" {
		t.Errorf("file rewritten after a refusal: %q", got)
	}

	// A changed path with uncommitted changes is refused, whatever the kind.
	write := func(p, content string) {
		t.Helper()
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, tc := range map[string]struct {
		setup, undo func()
		path        string
	}{
		"modified": {
			func() { write("secrets.sops.yaml", "hand edit\n") },
			func() { f.git(dir, "checkout", "-q", "--", "secrets.sops.yaml") }, "secrets.sops.yaml",
		},
		"staged": {
			func() { write("secrets.sops.yaml", "staged\n"); f.git(dir, "add", "secrets.sops.yaml") },
			func() { f.git(dir, "reset", "-q", "--hard") }, "secrets.sops.yaml",
		},
		"deleted": {
			func() { os.Remove(filepath.Join(dir, "secrets.sops.yaml")) },
			func() { f.git(dir, "checkout", "-q", "--", "secrets.sops.yaml") }, "secrets.sops.yaml",
		},
		"mode": {
			func() { os.Chmod(filepath.Join(dir, "secrets.sops.yaml"), 0o755) },
			func() { os.Chmod(filepath.Join(dir, "secrets.sops.yaml"), 0o600) }, "secrets.sops.yaml",
		},
		"untracked": {
			func() { write("brand/new.yaml", "mine\n") },
			func() { os.RemoveAll(filepath.Join(dir, "brand")) }, "brand/new.yaml",
		},
	} {
		tc.setup()
		before := f.git(dir, "status", "--porcelain", "--untracked-files=all")
		_, err := r.Commit(ctx, "main", head, []Change{{Path: tc.path, Content: []byte("rotated\n")}}, "rotate", rekeyBot)
		if !errors.Is(err, ErrDirty) || !strings.Contains(err.Error(), tc.path) {
			t.Errorf("%s: err = %v", name, err)
		}
		t.Logf("%s: %v", name, err)
		if got := f.git(dir, "rev-parse", "main"); got != head {
			t.Fatalf("%s: main moved to %s", name, got)
		}
		if after := f.git(dir, "status", "--porcelain", "--untracked-files=all"); after != before {
			t.Errorf("%s: status changed from %q to %q", name, before, after)
		}
		tc.undo()
		if st := f.git(dir, "status", "--porcelain", "--untracked-files=all"); st != "" {
			t.Fatalf("%s: undo left %q", name, st)
		}
	}

	// A branch that is not checked out: only the ref moves.
	f.git(dir, "branch", "side", head)
	s, err := r.Commit(ctx, "side", head, []Change{{Path: "secrets.sops.yaml", Content: []byte("side\n")}}, "side", rekeyBot)
	if err != nil {
		t.Fatal(err)
	}
	f.checkCommitted(dir, "side", s.Hash, head, "side", map[string]string{"secrets.sops.yaml": "side\n"})
	if st := f.git(dir, "status", "--porcelain", "--untracked-files=all"); st != "" {
		t.Errorf("git status after committing to another branch = %q", st)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "secrets.sops.yaml")); string(got) != "new\n" {
		t.Errorf("working tree changed by a commit to another branch: %q", got)
	}
}

// TestCommitRemoteRefusal covers refusals reported by the remote itself,
// after go-git's checks passed: a declining hook, and the branch moving
// between the advertisement and the update (simulated by a hook moving it).
func TestCommitRemoteRefusal(t *testing.T) {
	f := newFixture(t)
	work := f.initRepo()
	c0 := f.commit(work, "zero", map[string]string{"a.txt": "0\n"})
	c1 := f.commit(work, "first", map[string]string{"a.txt": "1\n"})
	origin := f.bareClone(work)
	srv := f.serveHTTPPush(filepath.Dir(origin))
	ctx := context.Background()
	r, err := Open(ctx, srv.URL+"/repo.git", WithCacheDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	hook := filepath.Join(origin, "hooks", "pre-receive")
	for name, tc := range map[string]struct {
		script string
		moved  bool
	}{
		"declined": {"echo protected branch >&2\nexit 1\n", false},
		"raced":    {"unset GIT_QUARANTINE_PATH\ngit update-ref refs/heads/main " + c0 + "\n", true},
	} {
		if err := os.WriteFile(hook, []byte("#!/bin/sh\n"+tc.script), 0o755); err != nil {
			t.Fatal(err)
		}
		f.git(origin, "update-ref", "refs/heads/main", c1)
		_, err := r.Commit(ctx, "main", c1, []Change{{Path: "a.txt", Content: []byte("2\n")}}, "m", rekeyBot)
		if !errors.Is(err, ErrPushRejected) || errors.Is(err, ErrBranchMoved) != tc.moved {
			t.Errorf("%s: err = %v", name, err)
		}
		t.Logf("%s: %v", name, err)
		want := c1
		if tc.moved {
			want = c0
		}
		if got := f.git(origin, "rev-parse", "main"); got != want {
			t.Errorf("%s: origin main = %s, want %s", name, got, want)
		}
		if got := mustResolve(t, r, "main").Hash; got != c1 {
			t.Errorf("%s: cache main moved to %s", name, got)
		}
	}
}

// TestCommitSignedWithSSH: a write-back signed with an SSH key verifies against that key, so an agent
// that requires trusted signatures accepts its own commits.
func TestCommitSignedWithSSH(t *testing.T) {
	dir := t.TempDir()
	git := func(args ...string) string {
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.invalid"}, args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(dir, "values.yaml"), []byte("a: 1\n"), 0o644)
	git("add", "-A")
	git("commit", "-qm", "one")
	head := git("rev-parse", "HEAD")
	_, priv, _ := ed25519.GenerateKey(nil)
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.Commit(context.Background(), "main", head, []Change{{Path: "values.yaml", Content: []byte("a: 2\n")}},
		"rotate", Author{Name: "rekey", Email: "rekey@localhost", Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	trusted := TrustedKeys{SSH: []string{string(ssh.MarshalAuthorizedKey(signer.PublicKey()))}}
	got, err := r.VerifyCommit(c.Hash, trusted)
	if err != nil || got.Kind != SignerSSH {
		t.Fatalf("VerifyCommit = %+v, %v", got, err)
	}
	other, _, _ := ed25519.GenerateKey(nil)
	otherKey, _ := ssh.NewPublicKey(other)
	if _, err := r.VerifyCommit(c.Hash, TrustedKeys{SSH: []string{string(ssh.MarshalAuthorizedKey(otherKey))}}); !errors.Is(err, ErrUntrusted) {
		t.Errorf("with another trusted key: %v, want ErrUntrusted", err)
	}
	// git itself sees a good signature header and the same content.
	if out := git("cat-file", "-p", c.Hash); !strings.Contains(out, "gpgsig -----BEGIN SSH SIGNATURE-----") {
		t.Errorf("no ssh signature in the commit object:\n%s", out)
	}
}
