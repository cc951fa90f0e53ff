package app

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/rekeyhq/rekey/gitsync"
	"github.com/rekeyhq/rekey/journal"
)

// validConfig is a rekey.yaml that parses; what it names does not exist, so that reading it fails with an
// error other than a refusal.
const validConfig = "version: 1\ncompose: {project_dir: /nonexistent-stack}\nvalues: secrets.sops.yaml\nsecrets:\n  token:\n    type: token\n    env: {value: TOKEN}\n"

// invalidConfig does not parse: a refusal that comes first proves the config was never read.
const invalidConfig = "version: [1\nsecrets: {{{\n"

// trustRig is a desired-state repository in a temporary directory, a trusted and an untrusted signing
// key, and a state dir.
type trustRig struct {
	t                  *testing.T
	dir, state, trust  string
	trusted, untrusted gitsync.Author
}

func newTrustRig(t *testing.T) *trustRig {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git CLI not available")
	}
	base := t.TempDir()
	r := &trustRig{t: t, dir: filepath.Join(base, "repo"), state: filepath.Join(base, "state"), trust: filepath.Join(base, "trusted-keys")}
	var pub []byte
	r.trusted, pub = signingKey(t, "trusted")
	r.untrusted, _ = signingKey(t, "other")
	if err := os.WriteFile(r.trust, pub, 0o600); err != nil {
		t.Fatal(err)
	}
	r.git("init", "-q", "-b", "main", r.dir)
	return r
}

// signingKey makes an ed25519 author key and its authorized_keys line.
func signingKey(t *testing.T, name string) (gitsync.Author, []byte) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, name)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	a := gitsync.Author{Name: name, Email: name + "@example.test"}
	if err := a.SetSigningKey(pem.EncodeToMemory(block)); err != nil {
		t.Fatal(err)
	}
	return a, ssh.MarshalAuthorizedKey(sshPub)
}

func (r *trustRig) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", append([]string{"-C", r.dir}, args...)...)
	if args[0] == "init" {
		cmd = exec.Command("git", args...)
	}
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + r.t.TempDir(), "GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=" + os.DevNull, "GIT_AUTHOR_NAME=a", "GIT_AUTHOR_EMAIL=a@example.test",
		"GIT_COMMITTER_NAME=a", "GIT_COMMITTER_EMAIL=a@example.test"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes rekey.yaml as an unsigned commit with the git CLI.
func (r *trustRig) commit(config string) string {
	r.t.Helper()
	if err := os.WriteFile(filepath.Join(r.dir, ConfigFile), []byte(config), 0o644); err != nil {
		r.t.Fatal(err)
	}
	r.git("add", "-A")
	r.git("commit", "-q", "--allow-empty", "-m", "unsigned")
	return r.git("rev-parse", "HEAD")
}

// signed writes rekey.yaml as a commit signed by who, on top of HEAD.
func (r *trustRig) signed(config string, who gitsync.Author) string {
	r.t.Helper()
	repo, err := gitsync.Open(context.Background(), r.dir)
	if err != nil {
		r.t.Fatal(err)
	}
	head, err := repo.Resolve("")
	if err != nil {
		r.t.Fatal(err)
	}
	c, err := repo.Commit(context.Background(), "main", head.Hash, []gitsync.Change{{Path: ConfigFile, Content: []byte(config)}}, "signed by "+who.Name, who)
	if err != nil {
		r.t.Fatal(err)
	}
	return c.Hash
}

// tamper rewrites HEAD's message and keeps its signature: the signature no longer matches.
func (r *trustRig) tamper() string {
	raw := r.git("cat-file", "commit", "HEAD") + "\n"
	if !strings.Contains(raw, "signed by") {
		r.t.Fatalf("HEAD is not a signed commit:\n%s", raw)
	}
	cmd := exec.Command("git", "-C", r.dir, "hash-object", "-t", "commit", "-w", "--stdin")
	cmd.Stdin = strings.NewReader(strings.Replace(raw, "signed by", "honestly signed by", 1))
	out, err := cmd.Output()
	if err != nil {
		r.t.Fatal(err)
	}
	hash := strings.TrimSpace(string(out))
	r.git("update-ref", "refs/heads/main", hash)
	return hash
}

func (r *trustRig) setApplied(hash string) {
	r.t.Helper()
	j, err := journal.Open(r.state)
	if err != nil {
		r.t.Fatal(err)
	}
	defer j.Close()
	if err := j.SetApplied(context.Background(), hash); err != nil {
		r.t.Fatal(err)
	}
}

func (r *trustRig) options(verify string) Options {
	o := Options{Repo: r.dir, StateDir: r.state, AgeKeyFile: filepath.Join(r.dir, "no-such-key")}
	if verify != "" {
		o.TrustSSH, o.VerifyCommits = r.trust, verify
	}
	return o
}

// wantRefused checks err is the guard's refusal naming want, and not an error from reading the commit.
func wantRefused(t *testing.T, err error, want string) {
	t.Helper()
	var ref *RefusedError
	if !errors.As(err, &ref) {
		t.Fatalf("got %v, want a refusal (%q)", err, want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("refusal %q does not say %q", err, want)
	}
}

// wantPassed checks the guard let the commit through: the error, if any, comes from reading it.
func wantPassed(t *testing.T, err error) {
	t.Helper()
	var ref *RefusedError
	if errors.As(err, &ref) {
		t.Fatalf("refused: %v", err)
	}
	if err == nil || !strings.Contains(err.Error(), "age key file") {
		t.Fatalf("got %v, want the guard passed and the load to fail on the missing age key", err)
	}
}

func TestGuardRefusesUnsignedUntrustedAndBadSignatures(t *testing.T) {
	r := newTrustRig(t)
	r.commit(invalidConfig)
	ctx := context.Background()
	_, err := LoadTrusted(ctx, r.options("head"))
	wantRefused(t, err, "commit is not signed")
	if !errors.Is(err, gitsync.ErrUnsigned) {
		t.Errorf("%v does not match gitsync.ErrUnsigned", err)
	}

	r.signed(invalidConfig+"# other\n", r.untrusted)
	_, err = LoadTrusted(ctx, r.options("head"))
	wantRefused(t, err, "untrusted ssh key")
	if !errors.Is(err, gitsync.ErrUntrusted) {
		t.Errorf("%v does not match gitsync.ErrUntrusted", err)
	}

	r.signed(validConfig, r.trusted)
	_, err = LoadTrusted(ctx, r.options("head"))
	wantPassed(t, err)

	r.tamper()
	_, err = LoadTrusted(ctx, r.options("head"))
	wantRefused(t, err, "does not verify")
	if !errors.Is(err, gitsync.ErrBadSignature) {
		t.Errorf("%v does not match gitsync.ErrBadSignature", err)
	}

	// Without a trust file the same commits are read: the refusals above came from the guard.
	r.commit(invalidConfig)
	if _, err := LoadTrusted(ctx, r.options("")); err == nil || !strings.Contains(err.Error(), ConfigFile) {
		t.Fatalf("without verification: %v, want the parse error of %s", err, ConfigFile)
	}
}

func TestGuardRefusesRewrittenHistoryUnlessAllowed(t *testing.T) {
	r := newTrustRig(t)
	ctx := context.Background()
	base := r.commit(validConfig)
	applied := r.commit(validConfig + "# rotated\n")
	r.setApplied(applied)
	r.git("reset", "-q", "--hard", base)
	r.commit(invalidConfig) // does not descend from the applied commit

	_, err := LoadTrusted(ctx, r.options(""))
	wantRefused(t, err, "does not descend from "+gitsync.Short(applied))

	o := r.options("")
	o.AllowRewrite = true
	if _, err := LoadTrusted(ctx, o); err == nil || errors.As(err, new(*RefusedError)) {
		t.Fatalf("--allow-rewrite: %v, want the commit read (and its parse error)", err)
	}

	// An accepted rewrite is still verified: its head must be signed.
	o = r.options("strict")
	o.AllowRewrite = true
	_, err = LoadTrusted(ctx, o)
	wantRefused(t, err, "commit is not signed")
	r.signed(validConfig, r.trusted)
	_, err = LoadTrusted(ctx, o)
	wantPassed(t, err)
}

func TestGuardStrictVerifiesEveryCommitSinceTheAppliedOne(t *testing.T) {
	r := newTrustRig(t)
	ctx := context.Background()
	r.commit(validConfig)
	applied := r.signed(validConfig+"# 1\n", r.trusted)
	r.setApplied(applied)
	r.commit(validConfig + "# 2, unsigned\n")
	r.signed(validConfig, r.trusted)

	_, err := LoadTrusted(ctx, r.options("head"))
	wantPassed(t, err) // head mode looks at the head only
	_, err = LoadTrusted(ctx, r.options("strict"))
	wantRefused(t, err, "not signed")
}

func TestGuardFailsClosedOnAnUnreadableJournal(t *testing.T) {
	r := newTrustRig(t)
	r.commit(invalidConfig)
	if err := os.MkdirAll(r.state, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.state, "journal.db"), []byte("not a bbolt file, not a journal"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadTrusted(context.Background(), r.options(""))
	if err == nil || strings.Contains(err.Error(), ConfigFile) {
		t.Fatalf("got %v, want the journal error before %s is read", err, ConfigFile)
	}

	// A journal that cannot answer (here: closed) is a reason to stop, never to go on.
	s, err := open(context.Background(), r.options(""))
	if err != nil {
		t.Fatal(err)
	}
	j, err := journal.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	if err := s.guard(j); err == nil || !strings.Contains(err.Error(), "refusing to go on") {
		t.Fatalf("guard on an unreadable journal: %v", err)
	}
}

// TestRefusedCommitReadsNothing is issue #13's finding: an unsigned commit whose rekey.yaml names a host
// file as a Compose file is refused by plan, apply and write-back before rekey.yaml is parsed, and no byte
// of the host file appears in the error.
func TestRefusedCommitReadsNothing(t *testing.T) {
	r := newTrustRig(t)
	const content = "root:x:0:0:HOST-FILE-SECRET-LINE:/root:/bin/sh"
	host := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(host, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.commit("version: 1\ncompose: {project_dir: " + filepath.Dir(host) + ", files: [" + host + "]}\nvalues: secrets.sops.yaml\nsecrets:\n  token: {type: token, env: {value: TOKEN}}\n")
	ctx := context.Background()
	o := r.options("head")
	_, _, planErr := Plan(ctx, o)
	_, _, applyErr := Apply(ctx, o)
	_, wbErr := WriteBack(ctx, o, "token", r.trusted)
	_, loadErr := LoadTrusted(ctx, o)
	for name, err := range map[string]error{"plan": planErr, "apply": applyErr, "write-back": wbErr, "load": loadErr} {
		wantRefused(t, err, "commit is not signed")
		if strings.Contains(err.Error(), "HOST-FILE") || strings.Contains(err.Error(), host) {
			t.Errorf("%s: the refusal quotes the host file: %v", name, err)
		}
	}
	// The config is not even parsed: invalid YAML yields the same refusal.
	r.commit(invalidConfig)
	_, _, err := Plan(ctx, o)
	wantRefused(t, err, "commit is not signed")
}
