package gitsync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport/http"
)

func mustResolve(t *testing.T, r *Repo, ref string) Commit {
	t.Helper()
	c, err := r.Resolve(ref)
	if err != nil {
		t.Fatalf("Resolve(%q): %v", ref, err)
	}
	return c
}

func mustRead(t *testing.T, r *Repo, hash, path string) string {
	t.Helper()
	b, err := r.ReadFile(hash, path)
	if err != nil {
		t.Fatalf("ReadFile(%s, %q): %v", hash, path, err)
	}
	return string(b)
}

// hideGit makes the git binary unreachable for the rest of the test, proving
// the package does not run it.
func hideGit(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
}

func TestOpenWorkingTree(t *testing.T) {
	f := newFixture(t)
	dir := f.initRepo()
	c1 := f.commit(dir, "first\n\nbody", map[string]string{"secrets.yaml": "v1\n", "dir/app.env": "A=1\n"})
	f.git(dir, "tag", "light")
	f.git(dir, "tag", "-a", "-m", "release", "v1")
	c2 := f.commit(dir, "second", map[string]string{"secrets.yaml": "v2\n"})
	f.git(dir, "branch", "feature", c1)
	hideGit(t)

	r, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Fetch(context.Background()); err != nil {
		t.Fatalf("Fetch on a local path: %v", err)
	}
	head := mustResolve(t, r, "")
	if head.Hash != c2 {
		t.Fatalf("HEAD = %s, want %s", head.Hash, c2)
	}
	if head.Author.Name != "Alice Author" || head.Author.Email != "alice@example.test" ||
		head.Committer.Name != "Carol Committer" || head.Committer.Email != "carol@example.test" {
		t.Errorf("signatures = %+v / %+v", head.Author, head.Committer)
	}
	if head.Committer.When.IsZero() || !head.Committer.When.After(time.Unix(1700000000, 0)) {
		t.Errorf("committer time = %v", head.Committer.When)
	}
	if got := mustResolve(t, r, c1).Message; got != "first\n\nbody\n" {
		t.Errorf("message = %q", got)
	}
	for ref, want := range map[string]string{
		"HEAD": c2, "main": c2, "refs/heads/main": c2, "feature": c1,
		"light": c1, "v1": c1, "refs/tags/v1": c1, c1: c1, c2[:7]: c2, strings.ToUpper(c1[:10]): c1,
	} {
		if got := mustResolve(t, r, ref).Hash; got != want {
			t.Errorf("Resolve(%q) = %s, want %s", ref, got, want)
		}
	}
	if got := mustRead(t, r, c1, "secrets.yaml"); got != "v1\n" {
		t.Errorf("secrets.yaml at c1 = %q", got)
	}
	if got := mustRead(t, r, c2, "./secrets.yaml"); got != "v2\n" {
		t.Errorf("secrets.yaml at c2 = %q", got)
	}
	if got := mustRead(t, r, c2[:8], "dir/app.env"); got != "A=1\n" {
		t.Errorf("dir/app.env at c2 = %q", got)
	}
}

func TestOpenBareByPath(t *testing.T) {
	f := newFixture(t)
	dir := f.initRepo()
	c1 := f.commit(dir, "first", map[string]string{"a.txt": "a\n"})
	bare := f.bareClone(dir)
	hideGit(t)

	r, err := Open(context.Background(), bare)
	if err != nil {
		t.Fatal(err)
	}
	if r.Dir() != bare {
		t.Errorf("Dir() = %s, want %s", r.Dir(), bare)
	}
	if got := mustResolve(t, r, "").Hash; got != c1 {
		t.Fatalf("HEAD = %s, want %s", got, c1)
	}
	if got := mustRead(t, r, c1, "a.txt"); got != "a\n" {
		t.Errorf("a.txt = %q", got)
	}
}

func TestOpenNotARepository(t *testing.T) {
	dir := t.TempDir()
	_, err := Open(context.Background(), dir)
	if err == nil || !strings.Contains(err.Error(), "failed to open repository "+dir) {
		t.Fatalf("err = %v", err)
	}
	_, err = Open(context.Background(), filepath.Join(dir, "missing"))
	if err == nil {
		t.Fatal("expected an error for a missing path")
	}
}

func TestErrors(t *testing.T) {
	f := newFixture(t)
	dir := f.initRepo()
	c1 := f.commit(dir, "first", map[string]string{"a.txt": "a\n", "d/b.txt": "b\n"})
	if err := os.Symlink("a.txt", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	f.git(dir, "add", "link")
	c2 := f.commit(dir, "link", nil)
	f.git(dir, "tag", "same", c1)
	f.git(dir, "branch", "same", c2) // branch and tag "same" disagree
	r, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}

	_, err = r.ReadFile(c1, "missing.yaml")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing file: err = %v, want ErrNotFound", err)
	}
	if want := `file "missing.yaml" not found at commit ` + c1; err.Error() != want {
		t.Errorf("missing file: %q, want %q", err, want)
	}
	if _, err := r.ReadFile(c1, "link"); !errors.Is(err, ErrNotFound) {
		t.Errorf("link at c1 (absent): err = %v", err)
	}
	if _, err := r.ReadFile(c1, "a.txt/x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a.txt/x: err = %v", err)
	}
	for path, want := range map[string]string{
		"d":         "is a directory",
		"/a.txt":    "relative to the repository root",
		"../a.txt":  "leaves the repository",
		"":          "repository root",
		"link@HEAD": "not found",
	} {
		hash := c1
		if path == "link@HEAD" {
			path, hash, want = "link", c2, "is a symlink"
		}
		if _, err := r.ReadFile(hash, path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadFile(%q): err = %v, want %q", path, err, want)
		}
	}
	if _, err := r.ReadFile("main", "a.txt"); err == nil || !strings.Contains(err.Error(), `invalid commit hash "main"`) {
		t.Errorf("ReadFile with a ref name: err = %v", err)
	}
	if _, err := r.ReadFile(strings.Repeat("0", 40), "a.txt"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ReadFile at an unknown commit: err = %v", err)
	}

	_, err = r.Resolve("nope")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `failed to resolve ref "nope" in `+dir) ||
		!strings.Contains(err.Error(), `no branch, tag or commit named "nope"`) {
		t.Errorf("bad ref: err = %v", err)
	}
	if _, err := r.Resolve("deadbeef"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown short hash: err = %v", err)
	}
	if _, err := r.Resolve("main~1"); err == nil || !strings.Contains(err.Error(), "unsupported ref syntax") {
		t.Errorf("revision expression: err = %v", err)
	}
	if _, err := r.Resolve("same"); !errors.Is(err, ErrAmbiguous) {
		t.Errorf("ambiguous ref: err = %v", err)
	}
	if got := mustResolve(t, r, "refs/tags/same").Hash; got != c1 {
		t.Errorf("refs/tags/same = %s", got)
	}
	// The tree object of c1 is not a commit.
	tree := f.git(dir, "rev-parse", c1+"^{tree}")
	if _, err := r.Resolve(tree); err == nil || !strings.Contains(err.Error(), "not a commit") {
		t.Errorf("tree hash: err = %v", err)
	}

	empty := f.initRepo()
	re, err := Open(context.Background(), empty)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := re.Resolve(""); !errors.Is(err, ErrNotFound) {
		t.Errorf("empty repository HEAD: err = %v", err)
	}
}

func TestCloneFileURL(t *testing.T) {
	f := newFixture(t)
	work := f.initRepo()
	c1 := f.commit(work, "first", map[string]string{"a.txt": "one\n"})
	cache := t.TempDir()
	ctx := context.Background()

	// file:// to a working tree (not only bare repositories) works.
	hideGitFor := func(fn func()) {
		t.Helper()
		old := os.Getenv("PATH")
		os.Setenv("PATH", t.TempDir())
		defer os.Setenv("PATH", old)
		fn()
	}
	t.Setenv("PATH", os.Getenv("PATH")) // restore PATH after the test
	var r *Repo
	var err error
	hideGitFor(func() { r, err = Open(ctx, "file://"+work, WithCacheDir(cache)) })
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r.Dir(), cache) {
		t.Errorf("clone at %s, not under the cache %s", r.Dir(), cache)
	}
	if got := mustResolve(t, r, "").Hash; got != c1 {
		t.Fatalf("default branch = %s, want %s", got, c1)
	}
	if got := mustResolve(t, r, "main").Hash; got != c1 {
		t.Fatalf("main = %s, want %s", got, c1)
	}

	c2 := f.commit(work, "second", map[string]string{"a.txt": "two\n"})
	hideGitFor(func() {
		// Reopening reuses the clone in the cache and fetches.
		var r2 *Repo
		r2, err = Open(ctx, "file://"+work, WithCacheDir(cache))
		if err == nil && r2.Dir() != r.Dir() {
			t.Errorf("reopen cloned again: %s vs %s", r2.Dir(), r.Dir())
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := mustResolve(t, r, "").Hash; got != c2 {
		t.Fatalf("after reopen: default branch = %s, want %s", got, c2)
	}
	if got := mustRead(t, r, c1, "a.txt"); got != "one\n" {
		t.Errorf("a.txt at c1 = %q", got)
	}
	entries, err := os.ReadDir(cache)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("cache holds %d entries, want 1 (no leftover temporary clones)", len(entries))
	}
}

func TestURLRequiresCacheDir(t *testing.T) {
	_, err := Open(context.Background(), "https://user:hunter2@example.invalid/repo.git")
	if err == nil || !strings.Contains(err.Error(), "cache directory is required") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "user") {
		t.Errorf("credentials leaked: %v", err)
	}
}

func TestHTTPCloneFetch(t *testing.T) {
	f := newFixture(t)
	work := f.initRepo()
	c1 := f.commit(work, "first", map[string]string{"secrets.yaml": "v1\n", "other.txt": "x\n"})
	f.git(work, "tag", "-a", "-m", "release one", "v1")
	bare := f.bareClone(work)
	f.git(work, "remote", "add", "origin", bare)
	base := f.serveHTTP(filepath.Dir(bare))
	url := base + "/repo.git"
	cache := t.TempDir()
	ctx := context.Background()

	var progress bytes.Buffer
	r, err := Open(ctx, url, WithCacheDir(cache), WithProgress(&progress))
	if err != nil {
		t.Fatal(err)
	}
	if got := mustResolve(t, r, "").Hash; got != c1 {
		t.Fatalf("default branch = %s, want %s", got, c1)
	}
	if got := mustResolve(t, r, "v1").Hash; got != c1 {
		t.Fatalf("v1 = %s, want %s", got, c1)
	}

	// Nothing new: Fetch is not an error.
	if err := r.Fetch(ctx); err != nil {
		t.Fatalf("Fetch without changes: %v", err)
	}

	c2 := f.commit(work, "second", map[string]string{"secrets.yaml": "v2\n"})
	f.git(work, "push", "-q", "origin", "main")
	f.git(work, "push", "-q", "origin", "main:feature")
	if got := mustResolve(t, r, "").Hash; got != c1 {
		t.Fatalf("before Fetch the default branch moved to %s", got)
	}
	if err := r.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	if got := mustResolve(t, r, "").Hash; got != c2 {
		t.Fatalf("after Fetch: default branch = %s, want %s", got, c2)
	}
	if got := mustResolve(t, r, "feature").Hash; got != c2 {
		t.Fatalf("feature = %s, want %s", got, c2)
	}
	if got := mustRead(t, r, c1, "secrets.yaml"); got != "v1\n" {
		t.Errorf("secrets.yaml at c1 = %q", got)
	}
	if got := mustRead(t, r, c2, "secrets.yaml"); got != "v2\n" {
		t.Errorf("secrets.yaml at c2 = %q", got)
	}
	if _, err := r.ReadFile(c2, "nope.yaml"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing file: err = %v", err)
	}
	if _, err := r.Resolve("no-such-branch"); !errors.Is(err, ErrNotFound) ||
		!strings.Contains(err.Error(), `no branch, tag or commit named "no-such-branch"`) {
		t.Errorf("bad branch: err = %v", err)
	}

	// A branch deleted on the remote disappears after Fetch.
	f.git(work, "push", "-q", "origin", ":feature")
	if err := r.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Resolve("feature"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted branch still resolves: err = %v", err)
	}
	// The default branch follows the remote's HEAD.
	f.git(work, "push", "-q", "origin", "main:next")
	f.git(bare, "symbolic-ref", "HEAD", "refs/heads/next")
	c3 := f.commit(work, "third", map[string]string{"other.txt": "y\n"})
	f.git(work, "push", "-q", "origin", "main:next")
	if err := r.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	if got := mustResolve(t, r, "").Hash; got != c3 {
		t.Errorf("default branch after HEAD moved to next = %s, want %s", got, c3)
	}
	if got := mustResolve(t, r, "main").Hash; got != c2 {
		t.Errorf("main = %s, want %s", got, c2)
	}
}

func TestForcePushAncestry(t *testing.T) {
	f := newFixture(t)
	work := f.initRepo()
	c1 := f.commit(work, "base", map[string]string{"a.txt": "1\n"})
	c2 := f.commit(work, "good", map[string]string{"a.txt": "2\n"})
	bare := f.bareClone(work)
	f.git(work, "remote", "add", "origin", bare)
	url := f.serveHTTP(filepath.Dir(bare)) + "/repo.git"
	cache := t.TempDir()
	ctx := context.Background()

	r, err := Open(ctx, url, WithCacheDir(cache))
	if err != nil {
		t.Fatal(err)
	}
	check := func(r *Repo, a, d string, want bool) {
		t.Helper()
		got, err := r.IsAncestor(a, d)
		if err != nil {
			t.Fatalf("IsAncestor(%s, %s): %v", a, d, err)
		}
		if got != want {
			t.Errorf("IsAncestor(%s, %s) = %v, want %v", a, d, got, want)
		}
	}
	check(r, c1, c2, true)
	check(r, c2, c1, false)
	check(r, c2, c2, true)
	check(r, c1[:7], c2[:7], true)

	// Rewrite history: replace c2 by c2' and force-push.
	f.git(work, "reset", "-q", "--hard", c1)
	c2b := f.commit(work, "rewritten", map[string]string{"a.txt": "evil\n"})
	f.git(work, "push", "-q", "--force", "origin", "main")
	if err := r.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	if got := mustResolve(t, r, "main").Hash; got != c2b {
		t.Fatalf("after force-push main = %s, want %s", got, c2b)
	}
	check(r, c2, c2b, false) // the cache still has c2: the rewrite is detected
	check(r, c1, c2b, true)
	if got := mustRead(t, r, c2, "a.txt"); got != "2\n" {
		t.Errorf("a.txt at the rewritten-away commit = %q", got)
	}

	// A fresh clone never saw c2: that is ErrNotFound, not false.
	fresh, err := Open(ctx, url, WithCacheDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.IsAncestor(c2, c2b); !errors.Is(err, ErrNotFound) {
		t.Errorf("IsAncestor with an unknown commit: err = %v, want ErrNotFound", err)
	}
	if _, err := fresh.IsAncestor("main", c2b); err == nil || !strings.Contains(err.Error(), "invalid commit hash") {
		t.Errorf("IsAncestor with a ref name: err = %v", err)
	}
}

func TestLog(t *testing.T) {
	f := newFixture(t)
	dir := f.initRepo()
	c1 := f.commit(dir, "c1 add both", map[string]string{"secrets/a.yaml": "a1\n", "readme": "r1\n"})
	c2 := f.commit(dir, "c2 readme", map[string]string{"readme": "r2\n"})
	c3 := f.commit(dir, "c3 a", map[string]string{"secrets/a.yaml": "a2\n"})
	c4 := f.commit(dir, "c4 add b", map[string]string{"secrets/b.yaml": "b1\n"})
	f.git(dir, "checkout", "-q", "-b", "side")
	s1 := f.commit(dir, "s1 readme on side", map[string]string{"readme": "r3\n"})
	f.git(dir, "checkout", "-q", "main")
	f.git(dir, "update-index", "--chmod=+x", "secrets/a.yaml")
	c5 := f.commit(dir, "c5 chmod a", nil)
	f.git(dir, "merge", "-q", "--no-ff", "-m", "merge side", "side")
	m := f.git(dir, "rev-parse", "HEAD")
	c6 := f.commit(dir, "c6 delete b", map[string]string{"secrets/b.yaml": ""})
	names := map[string]string{c1: "c1", c2: "c2", c3: "c3", c4: "c4", c5: "c5", c6: "c6", s1: "s1", m: "m"}

	r, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		from  string
		paths []string
		limit int
		want  string
	}{
		{"", nil, 0, "c6 m c5 s1 c4 c3 c2 c1"},
		{"", []string{"."}, 0, "c6 m c5 s1 c4 c3 c2 c1"},
		{"", []string{"secrets"}, 0, "c6 c5 c4 c3 c1"},
		{"", []string{"secrets/"}, 0, "c6 c5 c4 c3 c1"},
		{"", []string{"secrets/a.yaml"}, 0, "c5 c3 c1"},
		{"", []string{"readme"}, 0, "s1 c2 c1"},
		{"", []string{"readme", "secrets/b.yaml"}, 0, "c6 s1 c4 c2 c1"},
		{"", []string{"secrets"}, 2, "c6 c5"},
		{"main", nil, 3, "c6 m c5"},
		{c3, []string{"secrets"}, 0, "c3 c1"},
		{"side", []string{"readme"}, 0, "s1 c2 c1"},
		{"", []string{"nope"}, 0, ""},
	} {
		got, err := r.Log(tc.from, tc.paths, tc.limit)
		if err != nil {
			t.Fatalf("Log(%q, %q, %d): %v", tc.from, tc.paths, tc.limit, err)
		}
		var gotNames []string
		for _, c := range got {
			gotNames = append(gotNames, names[c.Hash])
		}
		if strings.Join(gotNames, " ") != tc.want {
			t.Errorf("Log(%q, %q, %d) = %q, want %q", tc.from, tc.paths, tc.limit, strings.Join(gotNames, " "), tc.want)
		}
	}
	if got, _ := r.Log("", []string{"secrets/a.yaml"}, 1); len(got) != 1 || got[0].Message != "c5 chmod a\n" ||
		got[0].Author.Name != "Alice Author" {
		t.Errorf("Log commit = %+v", got)
	}
	if _, err := r.Log("nope", nil, 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("Log from a bad ref: err = %v", err)
	}
	if _, err := r.Log("", []string{"../x"}, 0); err == nil {
		t.Error("Log with a path outside the repository: no error")
	}
}

func TestCredentialsNeverShown(t *testing.T) {
	f := newFixture(t)
	work := f.initRepo()
	c1 := f.commit(work, "first", map[string]string{"a.txt": "a\n"})
	bare := f.bareClone(work)
	base := f.serveHTTP(filepath.Dir(bare))
	withCreds := strings.Replace(base, "http://", "http://deploy:s3cr3t-pw@", 1)
	cache := t.TempDir()
	ctx := context.Background()

	// The server ignores the credentials; the clone must still not store them.
	r, err := Open(ctx, withCreds+"/repo.git", WithCacheDir(cache))
	if err != nil {
		t.Fatal(err)
	}
	if got := mustResolve(t, r, "").Hash; got != c1 {
		t.Fatalf("HEAD = %s", got)
	}
	if strings.Contains(r.String(), "s3cr3t") || strings.Contains(r.String(), "deploy") {
		t.Errorf("String() = %s", r.String())
	}
	cfg, err := os.ReadFile(filepath.Join(r.Dir(), "config"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(cfg), "s3cr3t") {
		t.Errorf("cached clone config holds the password:\n%s", cfg)
	}

	for _, source := range []string{
		withCreds + "/missing.git",
		"http://deploy:s3cr3t-pw@127.0.0.1:1/repo.git",
		"https://ghp_tok3nvalue@127.0.0.1:1/repo.git",
	} {
		_, err := Open(ctx, source, WithCacheDir(t.TempDir()),
			WithAuth(&http.BasicAuth{Username: "u", Password: "auth-pa55"}))
		if err == nil {
			t.Fatalf("Open(%s): no error", redactURL(source))
		}
		msg := err.Error()
		for _, secret := range []string{"s3cr3t", "ghp_tok3nvalue", "auth-pa55", "deploy:"} {
			if strings.Contains(msg, secret) {
				t.Errorf("error leaks %q: %s", secret, msg)
			}
		}
		if !strings.HasPrefix(msg, "failed to open repository http") {
			t.Errorf("error = %s", msg)
		}
	}
}

func TestEmptyRemote(t *testing.T) {
	f := newFixture(t)
	root := t.TempDir()
	f.git(root, "init", "-q", "--bare", "empty.git")
	_, err := Open(context.Background(), "file://"+filepath.Join(root, "empty.git"), WithCacheDir(t.TempDir()))
	if err == nil || !strings.Contains(err.Error(), "remote repository is empty") {
		t.Fatalf("err = %v", err)
	}
	_, err = Open(context.Background(), "file://"+filepath.Join(root, "absent.git"), WithCacheDir(t.TempDir()))
	if err == nil || !strings.Contains(err.Error(), "failed to open repository file://") {
		t.Fatalf("err = %v", err)
	}
}

func TestContextCancelled(t *testing.T) {
	f := newFixture(t)
	work := f.initRepo()
	f.commit(work, "first", map[string]string{"a.txt": "a\n"})
	bare := f.bareClone(work)
	url := f.serveHTTP(filepath.Dir(bare)) + "/repo.git"
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cache := t.TempDir()
	if _, err := Open(ctx, url, WithCacheDir(cache)); err == nil {
		t.Fatal("Open with a cancelled context: no error")
	}
	entries, _ := os.ReadDir(cache)
	if len(entries) != 0 {
		t.Errorf("a failed clone left %d entries in the cache", len(entries))
	}
}

func TestSourceClassification(t *testing.T) {
	for source, want := range map[string]bool{
		"/srv/repo":                    false,
		"./repo":                       false,
		"repo":                         false,
		"./a:b":                        false,
		"/x/a:b":                       false,
		`C:\repo`:                      false,
		"file:///srv/repo.git":         true,
		"https://example.test/r.git":   true,
		"ssh://git@example.test/r.git": true,
		"git@example.test:org/r.git":   true,
		"example.test:r.git":           true,
	} {
		if got := isURL(source); got != want {
			t.Errorf("isURL(%q) = %v, want %v", source, got, want)
		}
	}
	for source, want := range map[string]string{
		"https://u:p@example.test/r.git":    "https://example.test/r.git",
		"https://tok@example.test:8443/r":   "https://example.test:8443/r",
		"ssh://git@example.test:2222/r.git": "ssh://example.test:2222/r.git",
		"git@example.test:org/r.git":        "example.test:org/r.git",
		"https://u:p%zz@example.test/r":     "https://example.test/r",
		"/srv/repo":                         "/srv/repo",
	} {
		if got := redactURL(source); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", source, got, want)
		}
	}
	if a, b := cacheKey("https://example.test/org/repo.git"), cacheKey("https://example.test/other/repo.git"); a == b ||
		!strings.HasPrefix(a, "repo-") {
		t.Errorf("cache keys %q, %q", a, b)
	}
}

// TestReadFileLimit: a file over MaxFileSize in a commit is refused with its size and the limit, without
// reading it into memory.
func TestReadFileLimit(t *testing.T) {
	f := newFixture(t)
	dir := f.initRepo()
	big := strings.Repeat("x", MaxFileSize+1)
	c := f.commit(dir, "big", map[string]string{"rekey.yaml": big, "ok.yaml": strings.Repeat("y", MaxFileSize)})
	r, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.ReadFile(c, "rekey.yaml")
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("over the limit of %d bytes", MaxFileSize)) || !strings.Contains(err.Error(), `"rekey.yaml"`) {
		t.Fatalf("err = %v, want the limit named", err)
	}
	if got := mustRead(t, r, c, "ok.yaml"); len(got) != MaxFileSize {
		t.Errorf("a file at the limit: read %d bytes", len(got))
	}
}
