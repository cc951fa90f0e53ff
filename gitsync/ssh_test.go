package gitsync

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// sshGitServer is a minimal git-over-SSH server on 127.0.0.1: public-key
// authentication for user git with a single authorized key, and "exec"
// requests for git-upload-pack and git-receive-pack served by the git CLI on
// the repositories under root.
type sshGitServer struct {
	t    *testing.T
	port int
	root string
	env  []string
	ln   net.Listener
	wg   sync.WaitGroup

	mu        sync.Mutex
	conns     map[net.Conn]struct{}
	closed    bool
	logins    int      // connections that authenticated
	authFails int      // public keys offered and refused
	commands  []string // exec requests received, as sent
	// beforeCommand, when set, runs before each command is started (after
	// the exec request was accepted): a server slow to answer.
	beforeCommand func()
}

// startSSHGitServer serves the repositories under root until the test ends.
func startSSHGitServer(t *testing.T, f *fixture, root string, hostKey ssh.Signer, authorized ssh.PublicKey) *sshGitServer {
	t.Helper()
	s := &sshGitServer{t: t, root: root, env: f.env(), conns: map[net.Conn]struct{}{}}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if meta.User() == "git" && bytes.Equal(key.Marshal(), authorized.Marshal()) {
				return nil, nil
			}
			s.mu.Lock()
			s.authFails++
			s.mu.Unlock()
			return nil, fmt.Errorf("public key of %s is not authorized", meta.User())
		},
	}
	cfg.AddHostKey(hostKey)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ln = ln
	s.port = ln.Addr().(*net.TCPAddr).Port
	t.Cleanup(s.close)

	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !s.track(c) {
				c.Close()
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer s.untrack(c)
				s.serveConn(c, cfg)
			}()
		}
	}()
	return s
}

// close stops accepting, drops the open connections and waits for every
// goroutine of the server.
func (s *sshGitServer) close() {
	s.ln.Close()
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *sshGitServer) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *sshGitServer) untrack(c net.Conn) {
	c.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *sshGitServer) stats() (logins, authFails int, commands []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins, s.authFails, append([]string(nil), s.commands...)
}

func (s *sshGitServer) serveConn(c net.Conn, cfg *ssh.ServerConfig) {
	sconn, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return // handshake or authentication failed
	}
	defer sconn.Close()
	s.mu.Lock()
	s.logins++
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ssh.DiscardRequests(reqs)
	}()
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "only session channels are served")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveSession(ch, chReqs)
		}()
	}
}

// serveSession runs the first exec request of a session and reports its exit
// status; other requests are refused.
func (s *sshGitServer) serveSession(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" {
			if req.WantReply {
				req.Reply(false, nil)
			}
			continue
		}
		var payload struct{ Command string }
		if err := ssh.Unmarshal(req.Payload, &payload); err != nil {
			req.Reply(false, nil)
			continue
		}
		req.Reply(true, nil)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			ssh.DiscardRequests(reqs)
		}()
		status := s.run(payload.Command, ch)
		ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
		return
	}
}

// run serves one git command on ch and returns its exit status. Only
// git-upload-pack and git-receive-pack with one single-quoted path inside
// root are accepted.
func (s *sshGitServer) run(command string, ch ssh.Channel) uint32 {
	s.mu.Lock()
	s.commands = append(s.commands, command)
	before := s.beforeCommand
	s.mu.Unlock()
	if before != nil {
		before()
	}
	refuse := func(why string) uint32 {
		fmt.Fprintf(ch.Stderr(), "fatal: %s\n", why)
		return 128
	}
	service, arg, _ := strings.Cut(command, " ")
	if service != "git-upload-pack" && service != "git-receive-pack" {
		return refuse("unsupported command")
	}
	if len(arg) < 2 || arg[0] != '\'' || arg[len(arg)-1] != '\'' || strings.Contains(arg[1:len(arg)-1], "'") {
		return refuse("unsupported path quoting")
	}
	rel := strings.TrimPrefix(arg[1:len(arg)-1], "/")
	if !filepath.IsLocal(rel) {
		return refuse("path outside the served root")
	}

	cmd := exec.Command(gitBin, strings.TrimPrefix(service, "git-"), filepath.Join(s.root, filepath.FromSlash(rel)))
	cmd.Env = s.env
	cmd.Stdout = ch
	cmd.Stderr = ch.Stderr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return refuse(err.Error())
	}
	if err := cmd.Start(); err != nil {
		return refuse(err.Error())
	}
	s.wg.Add(1)
	go func() {
		// Ends at the client's EOF, or when the channel is closed after
		// the exit status was sent.
		defer s.wg.Done()
		io.Copy(stdin, ch)
		stdin.Close()
	}()
	err = cmd.Wait()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exitErr) && exitErr.ExitCode() > 0:
		return uint32(exitErr.ExitCode())
	default:
		return 255
	}
}

// sshKeyPair generates an ed25519 key and writes its private half as an
// OpenSSH private key file (mode 0600) in dir.
func sshKeyPair(t *testing.T, dir, name string) (ssh.Signer, string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, name)
	if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return signer, file
}

// writeKnownHosts writes a known_hosts file holding key for [127.0.0.1]:port.
func writeKnownHosts(t *testing.T, dir, name string, port int, key ssh.PublicKey) string {
	t.Helper()
	line := knownhosts.Line([]string{fmt.Sprintf("[127.0.0.1]:%d", port)}, key)
	file := filepath.Join(dir, name)
	if err := os.WriteFile(file, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// cliSSHAuth builds the credentials exactly as cmd/rekey does for
// --git-ssh-key and --git-known-hosts.
func cliSSHAuth(t *testing.T, keyFile, knownHostsFile string) *gitssh.PublicKeys {
	t.Helper()
	keys, err := gitssh.NewPublicKeysFromFile("git", keyFile, "")
	if err != nil {
		t.Fatal(err)
	}
	hosts, err := gitssh.NewKnownHostsCallback(knownHostsFile)
	if err != nil {
		t.Fatal(err)
	}
	keys.HostKeyCallback = hosts
	return keys
}

// isolateSSH keeps the test away from the environment's SSH setup: no agent,
// no known_hosts from the environment, and no ssh_config (go-git reads
// Hostname and Port for the host from ~/.ssh/config and /etc/ssh/ssh_config,
// finding the home directory with os/user, so HOME cannot redirect it).
func isolateSSH(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	t.Setenv("SSH_KNOWN_HOSTS", "")
	old := gitssh.DefaultSSHConfig
	gitssh.DefaultSSHConfig = nil
	t.Cleanup(func() { gitssh.DefaultSSHConfig = old })
}

// sshFixture is a bare repository repo.git holding one commit, served over
// SSH, and the keys and known_hosts file for it.
type sshFixture struct {
	f          *fixture
	work, bare string
	c1         string
	srv        *sshGitServer
	url        string
	hostKey    ssh.Signer
	keyFile    string // the authorized client key
	knownHosts string // holds the server's host key
	dir        string // for more keys and known_hosts files
}

func newSSHFixture(t *testing.T) *sshFixture {
	t.Helper()
	isolateSSH(t)
	f := newFixture(t)
	work := f.initRepo()
	c1 := f.commit(work, "first", map[string]string{"secrets.yaml": "v1\n"})
	bare := f.bareClone(work)
	f.git(work, "remote", "add", "origin", bare)

	dir := t.TempDir()
	hostKey, _ := sshKeyPair(t, dir, "host_ed25519")
	client, keyFile := sshKeyPair(t, dir, "id_ed25519")
	srv := startSSHGitServer(t, f, filepath.Dir(bare), hostKey, client.PublicKey())
	return &sshFixture{
		f: f, work: work, bare: bare, c1: c1, srv: srv,
		url:        fmt.Sprintf("ssh://git@127.0.0.1:%d/repo.git", srv.port),
		hostKey:    hostKey,
		keyFile:    keyFile,
		knownHosts: writeKnownHosts(t, dir, "known_hosts", srv.port, hostKey.PublicKey()),
		dir:        dir,
	}
}

// assertEmptyCache fails unless cache holds nothing (no clone, no leftover
// temporary clone).
func assertEmptyCache(t *testing.T, cache string) {
	t.Helper()
	entries, err := os.ReadDir(cache)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("cache holds %s after a failed Open", e.Name())
	}
}

func TestSSHCloneFetch(t *testing.T) {
	sf := newSSHFixture(t)
	ctx := context.Background()
	cache := t.TempDir()
	auth := cliSSHAuth(t, sf.keyFile, sf.knownHosts)

	r, err := Open(ctx, sf.url, WithCacheDir(cache), WithAuth(auth))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r.Dir(), cache) {
		t.Errorf("clone at %s, not under the cache %s", r.Dir(), cache)
	}
	if got := r.String(); got != fmt.Sprintf("ssh://127.0.0.1:%d/repo.git", sf.srv.port) {
		t.Errorf("String() = %q, want the URL without the user", got)
	}
	if got := mustResolve(t, r, "").Hash; got != sf.c1 {
		t.Fatalf("default branch = %s, want %s", got, sf.c1)
	}
	if got := mustRead(t, r, sf.c1, "secrets.yaml"); got != "v1\n" {
		t.Errorf("secrets.yaml at c1 = %q", got)
	}
	if _, _, commands := sf.srv.stats(); len(commands) == 0 || commands[0] != "git-upload-pack '/repo.git'" {
		t.Errorf("server received %q, want git-upload-pack '/repo.git'", commands)
	}

	// A commit pushed to the remote is seen after Fetch, not before.
	c2 := sf.f.commit(sf.work, "second", map[string]string{"secrets.yaml": "v2\n"})
	sf.f.git(sf.work, "push", "-q", "origin", "main")
	if got := mustResolve(t, r, "").Hash; got != sf.c1 {
		t.Fatalf("before Fetch the default branch moved to %s", got)
	}
	if err := r.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	if got := mustResolve(t, r, "").Hash; got != c2 {
		t.Fatalf("after Fetch: default branch = %s, want %s", got, c2)
	}
	if got := mustRead(t, r, c2, "secrets.yaml"); got != "v2\n" {
		t.Errorf("secrets.yaml at c2 = %q", got)
	}
	// Nothing new: Fetch is not an error.
	if err := r.Fetch(ctx); err != nil {
		t.Fatalf("Fetch without changes: %v", err)
	}

	// Reopening reuses the clone in the cache (and fetches over SSH).
	r2, err := Open(ctx, sf.url, WithCacheDir(cache), WithAuth(auth))
	if err != nil {
		t.Fatal(err)
	}
	if r2.Dir() != r.Dir() {
		t.Errorf("reopen cloned again: %s vs %s", r2.Dir(), r.Dir())
	}

	// Commit pushes over SSH (git-receive-pack).
	c3, err := r.Commit(ctx, "main", c2, []Change{{Path: "secrets.yaml", Content: []byte("v3\n")}},
		"third", Author{Name: "Rekey", Email: "rekey@example.test"})
	if err != nil {
		t.Fatal(err)
	}
	if got := sf.f.git(sf.bare, "rev-parse", "refs/heads/main"); got != c3.Hash {
		t.Errorf("remote main = %s after Commit, want %s", got, c3.Hash)
	}
	if got := sf.f.git(sf.bare, "show", "refs/heads/main:secrets.yaml"); got != "v3" {
		t.Errorf("remote secrets.yaml = %q, want v3", got)
	}
	_, authFails, commands := sf.srv.stats()
	if authFails != 0 {
		t.Errorf("%d public keys refused with the authorized key", authFails)
	}
	if !containsString(commands, "git-receive-pack '/repo.git'") {
		t.Errorf("server received %q, want a git-receive-pack '/repo.git'", commands)
	}

	// A repository that does not exist on the server is an error.
	missing := t.TempDir()
	_, err = Open(ctx, fmt.Sprintf("ssh://git@127.0.0.1:%d/missing.git", sf.srv.port), WithCacheDir(missing), WithAuth(auth))
	if err == nil {
		t.Fatal("Open of a missing repository succeeded")
	}
	assertEmptyCache(t, missing)
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestSSHWrongClientKey(t *testing.T) {
	sf := newSSHFixture(t)
	_, otherKey := sshKeyPair(t, sf.dir, "id_other")
	cache := t.TempDir()

	_, err := Open(context.Background(), sf.url, WithCacheDir(cache), WithAuth(cliSSHAuth(t, otherKey, sf.knownHosts)))
	if err == nil {
		t.Fatal("Open with an unauthorized client key succeeded")
	}
	if !strings.Contains(err.Error(), "unable to authenticate") {
		t.Errorf("err = %v, want an authentication failure", err)
	}
	logins, authFails, commands := sf.srv.stats()
	if logins != 0 || authFails == 0 || len(commands) != 0 {
		t.Errorf("server: %d logins, %d refused keys, commands %q; want 0, >0, none", logins, authFails, commands)
	}
	assertEmptyCache(t, cache)
}

func TestSSHHostKeyMismatch(t *testing.T) {
	sf := newSSHFixture(t)
	other, _ := sshKeyPair(t, sf.dir, "other_host_ed25519")
	knownHosts := writeKnownHosts(t, sf.dir, "known_hosts_other", sf.srv.port, other.PublicKey())
	cache := t.TempDir()

	_, err := Open(context.Background(), sf.url, WithCacheDir(cache), WithAuth(cliSSHAuth(t, sf.keyFile, knownHosts)))
	if err == nil {
		t.Fatal("Open with a mismatching host key succeeded")
	}
	var keyErr *knownhosts.KeyError
	if !errors.As(err, &keyErr) || len(keyErr.Want) == 0 {
		t.Errorf("err = %v (%T), want a knownhosts.KeyError for a changed host key", err, err)
	}
	if !strings.Contains(err.Error(), "key mismatch") {
		t.Errorf("err = %v, want it to name the host key mismatch", err)
	}
	logins, authFails, commands := sf.srv.stats()
	if logins != 0 || authFails != 0 || len(commands) != 0 {
		t.Errorf("server: %d logins, %d refused keys, commands %q; want none (the client must stop at the host key)", logins, authFails, commands)
	}
	assertEmptyCache(t, cache)
}

func TestSSHUnknownHost(t *testing.T) {
	sf := newSSHFixture(t)
	// The right key, but recorded for the default port 22: it does not
	// vouch for the server's port.
	line := knownhosts.Line([]string{"127.0.0.1"}, sf.hostKey.PublicKey())
	knownHosts := filepath.Join(sf.dir, "known_hosts_port22")
	if err := os.WriteFile(knownHosts, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()

	_, err := Open(context.Background(), sf.url, WithCacheDir(cache), WithAuth(cliSSHAuth(t, sf.keyFile, knownHosts)))
	if err == nil {
		t.Fatal("Open of a host missing from known_hosts succeeded")
	}
	var keyErr *knownhosts.KeyError
	if !errors.As(err, &keyErr) || len(keyErr.Want) != 0 {
		t.Errorf("err = %v (%T), want a knownhosts.KeyError for an unknown host", err, err)
	}
	if logins, _, _ := sf.srv.stats(); logins != 0 {
		t.Errorf("server: %d logins, want none", logins)
	}
	assertEmptyCache(t, cache)
}
