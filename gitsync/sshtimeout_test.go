package gitsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// silentServer accepts TCP connections on 127.0.0.1 and never writes a
// byte: something that is not an SSH server (or a hung one) on the port.
type silentServer struct {
	port   int
	ln     net.Listener
	closed chan struct{} // receives once per connection the client closed
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns []net.Conn
}

func startSilentServer(t *testing.T) *silentServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveSilently(t, ln)
}

func serveSilently(t *testing.T, ln net.Listener) *silentServer {
	s := &silentServer{port: ln.Addr().(*net.TCPAddr).Port, ln: ln, closed: make(chan struct{}, 16)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				// Read what the client sends (its SSH version line) and
				// never answer; returns when the client closes.
				io.Copy(io.Discard, c)
				select {
				case s.closed <- struct{}{}:
				default:
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// waitClientClosed fails unless the client closed its connection to s: no
// goroutine of the client is left holding it.
func (s *silentServer) waitClientClosed(t *testing.T) {
	t.Helper()
	select {
	case <-s.closed:
	case <-time.After(5 * time.Second):
		t.Error("the client did not close its connection to the silent server")
	}
}

// checkNoSSHGoroutines fails when goroutines of an SSH client (x/crypto/ssh,
// go-git's transports, gitsync's dialer) are still running a few seconds
// after every connection was closed. Servers must be stopped first: they
// run x/crypto/ssh too.
func checkNoSSHGoroutines(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		buf := make([]byte, 4<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var left []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			for _, marker := range []string{"golang.org/x/crypto/ssh.", "go-git/go-git/v5/plumbing/transport", "jbenet/go-context", "gitsync.(*sshDial)", "gitsync.(*sshTransport)"} {
				if strings.Contains(g, marker) {
					left = append(left, g)
					break
				}
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%d SSH client goroutines still running:\n%s", len(left), strings.Join(left, "\n\n"))
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// openAsync runs Open and fails the test if it has not returned within
// limit: a hang must fail the test, not block it until the test binary's
// timeout.
func openAsync(t *testing.T, limit time.Duration, ctx context.Context, source string, opts ...Option) (time.Duration, error) {
	t.Helper()
	type result struct {
		err     error
		elapsed time.Duration
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		_, err := Open(ctx, source, opts...)
		done <- result{err, time.Since(start)}
	}()
	select {
	case r := <-done:
		return r.elapsed, r.err
	case <-time.After(limit):
		t.Fatalf("Open of %s still blocked after %s", source, limit)
		return 0, nil
	}
}

func TestSSHSilentServerContextDeadline(t *testing.T) {
	isolateSSH(t)
	srv := startSilentServer(t)
	dir := t.TempDir()
	hostKey, _ := sshKeyPair(t, dir, "host")
	_, keyFile := sshKeyPair(t, dir, "id")
	auth := cliSSHAuth(t, keyFile, writeKnownHosts(t, dir, "known_hosts", srv.port, hostKey.PublicKey()))
	cache := t.TempDir()
	url := fmt.Sprintf("ssh://git@127.0.0.1:%d/repo.git", srv.port)

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	elapsed, err := openAsync(t, 15*time.Second, ctx, url, WithCacheDir(cache), WithAuth(auth))
	if err == nil {
		t.Fatal("Open of a server that never speaks SSH succeeded")
	}
	if elapsed > 5*time.Second {
		t.Errorf("Open returned after %s, want about 1s (the context deadline)", elapsed)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want it to match context.DeadlineExceeded", err)
	}
	want := fmt.Sprintf("ssh handshake with 127.0.0.1:%d stopped: context deadline exceeded", srv.port)
	if !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want it to say %q", err, want)
	}
	srv.waitClientClosed(t)
	assertEmptyCache(t, cache)
	checkNoSSHGoroutines(t)

	// Cancelling (rather than a deadline) stops it as well.
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	_, err = openAsync(t, 15*time.Second, ctx, url, WithCacheDir(cache), WithAuth(auth))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("after cancel: err = %v, want context.Canceled", err)
	}
	srv.waitClientClosed(t)
	checkNoSSHGoroutines(t)
}

func TestSSHSilentServerHandshakeTimeout(t *testing.T) {
	isolateSSH(t)
	srv := startSilentServer(t)
	dir := t.TempDir()
	hostKey, _ := sshKeyPair(t, dir, "host")
	_, keyFile := sshKeyPair(t, dir, "id")
	auth := cliSSHAuth(t, keyFile, writeKnownHosts(t, dir, "known_hosts", srv.port, hostKey.PublicKey()))
	cache := t.TempDir()

	// No deadline on the context: the handshake timeout alone ends it.
	elapsed, err := openAsync(t, 15*time.Second, context.Background(), fmt.Sprintf("ssh://git@127.0.0.1:%d/repo.git", srv.port),
		WithCacheDir(cache), WithAuth(auth), WithSSHHandshakeTimeout(500*time.Millisecond))
	if err == nil {
		t.Fatal("Open of a server that never speaks SSH succeeded")
	}
	if elapsed < 400*time.Millisecond || elapsed > 5*time.Second {
		t.Errorf("Open returned after %s, want about 500ms (the handshake timeout)", elapsed)
	}
	want := fmt.Sprintf("ssh handshake with 127.0.0.1:%d timed out after 500ms", srv.port)
	if !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want it to say %q", err, want)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v: want it to match os.ErrDeadlineExceeded and not context.DeadlineExceeded", err)
	}
	srv.waitClientClosed(t)
	assertEmptyCache(t, cache)
	checkNoSSHGoroutines(t)
}

// TestSSHStalledAuthentication: a server that completes the key exchange but
// never answers the authentication request is cut by the handshake timeout
// too.
func TestSSHStalledAuthentication(t *testing.T) {
	isolateSSH(t)
	dir := t.TempDir()
	hostKey, _ := sshKeyPair(t, dir, "host")
	_, keyFile := sshKeyPair(t, dir, "id")

	release := make(chan struct{})
	asked := make(chan struct{}, 1)
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(ssh.ConnMetadata, ssh.PublicKey) (*ssh.Permissions, error) {
			select {
			case asked <- struct{}{}:
			default:
			}
			<-release
			return nil, errors.New("no")
		},
	}
	cfg.AddHostKey(hostKey)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	var wg sync.WaitGroup
	var conns []net.Conn
	var mu sync.Mutex
	clientClosed := make(chan struct{}, 4)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				if sc, _, _, err := ssh.NewServerConn(c, cfg); err == nil {
					sc.Close()
				}
				clientClosed <- struct{}{}
			}()
		}
	}()
	stop := func() {
		ln.Close()
		select {
		case <-release:
		default:
			close(release)
		}
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}
	t.Cleanup(stop)

	auth := cliSSHAuth(t, keyFile, writeKnownHosts(t, dir, "known_hosts", port, hostKey.PublicKey()))
	cache := t.TempDir()
	elapsed, err := openAsync(t, 15*time.Second, context.Background(), fmt.Sprintf("ssh://git@127.0.0.1:%d/repo.git", port),
		WithCacheDir(cache), WithAuth(auth), WithSSHHandshakeTimeout(time.Second))
	if err == nil {
		t.Fatal("Open succeeded")
	}
	select {
	case <-asked:
	default:
		t.Fatal("the server was never asked to authenticate a key: the handshake did not get that far")
	}
	if elapsed > 5*time.Second {
		t.Errorf("Open returned after %s, want about 1s", elapsed)
	}
	if want := fmt.Sprintf("ssh handshake with 127.0.0.1:%d timed out after 1s", port); !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want it to say %q", err, want)
	}
	// The server notices the client hung up while it is stuck authenticating
	// only once released; then its handshake fails on the closed connection.
	close(release)
	select {
	case <-clientClosed:
	case <-time.After(5 * time.Second):
		t.Error("the server's connection did not end")
	}
	stop()
	checkNoSSHGoroutines(t)
	assertEmptyCache(t, cache)
}

// TestSSHSlowServerAfterHandshake: the handshake timeout bounds only the
// setup of each session, not a server that takes its time to answer once the
// git command runs.
func TestSSHSlowServerAfterHandshake(t *testing.T) {
	sf := newSSHFixture(t)
	auth := cliSSHAuth(t, sf.keyFile, sf.knownHosts)
	sf.srv.mu.Lock()
	sf.srv.beforeCommand = func() { time.Sleep(1500 * time.Millisecond) }
	sf.srv.mu.Unlock()
	ctx := context.Background()
	r, err := Open(ctx, sf.url, WithCacheDir(t.TempDir()), WithAuth(auth), WithSSHHandshakeTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatalf("Open of a slow server: %v", err)
	}
	if got := mustResolve(t, r, "").Hash; got != sf.c1 {
		t.Fatalf("default branch = %s, want %s", got, sf.c1)
	}
	c, err := r.Commit(ctx, "main", sf.c1, []Change{{Path: "secrets.yaml", Content: []byte("v2\n")}},
		"second", Author{Name: "Rekey", Email: "rekey@example.test"})
	if err != nil {
		t.Fatalf("Commit to a slow server: %v", err)
	}
	if got := sf.f.git(sf.bare, "rev-parse", "refs/heads/main"); got != c.Hash {
		t.Errorf("remote main = %s, want %s", got, c.Hash)
	}
}

// TestSSHStalledServerContext: a server that completed the handshake and
// then never answers is stopped by the context, for Open, Fetch and Commit.
func TestSSHStalledServerContext(t *testing.T) {
	sf := newSSHFixture(t)
	auth := cliSSHAuth(t, sf.keyFile, sf.knownHosts)
	r, err := Open(context.Background(), sf.url, WithCacheDir(t.TempDir()), WithAuth(auth))
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // before the server is closed
	sf.srv.mu.Lock()
	sf.srv.beforeCommand = func() { <-release }
	sf.srv.mu.Unlock()

	run := func(what string, op func(ctx context.Context) error) error {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- op(ctx) }()
		select {
		case err := <-done:
			if err == nil {
				t.Fatalf("%s succeeded against a stalled server", what)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("%s returned after %s, want about 1s", what, d)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s: err = %v, want it to match context.DeadlineExceeded", what, err)
			}
			if !strings.Contains(err.Error(), "context deadline exceeded") {
				t.Errorf("%s: err = %v, want it to say the deadline passed", what, err)
			}
			return err
		case <-time.After(15 * time.Second):
			t.Fatalf("%s still blocked after 15s", what)
			return nil
		}
	}
	run("Fetch", r.Fetch)
	err = run("Commit", func(ctx context.Context) error {
		_, err := r.Commit(ctx, "main", sf.c1, []Change{{Path: "secrets.yaml", Content: []byte("v2\n")}},
			"second", Author{Name: "Rekey", Email: "rekey@example.test"})
		return err
	})
	if errors.Is(err, ErrPushRejected) {
		t.Errorf("Commit: err = %v matches ErrPushRejected", err)
	}
	if got := sf.f.git(sf.bare, "rev-parse", "refs/heads/main"); got != sf.c1 {
		t.Errorf("remote main = %s after a failed push, want %s", got, sf.c1)
	}
	run("Open", func(ctx context.Context) error {
		_, err := Open(ctx, sf.url, WithCacheDir(t.TempDir()), WithAuth(auth))
		return err
	})
}

// TestSSHServerGoesSilent: a repository already cloned whose server later
// accepts connections and never speaks SSH: Fetch and Commit give up after
// the handshake timeout.
func TestSSHServerGoesSilent(t *testing.T) {
	sf := newSSHFixture(t)
	auth := cliSSHAuth(t, sf.keyFile, sf.knownHosts)
	r, err := Open(context.Background(), sf.url, WithCacheDir(t.TempDir()), WithAuth(auth), WithSSHHandshakeTimeout(700*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	sf.srv.close()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", sf.srv.port))
	if err != nil {
		t.Skipf("cannot listen on the server's port again: %v", err)
	}
	silent := serveSilently(t, ln)

	for _, op := range []struct {
		name string
		run  func() error
	}{
		{"Fetch", func() error { return r.Fetch(context.Background()) }},
		{"Commit", func() error {
			_, err := r.Commit(context.Background(), "main", sf.c1, []Change{{Path: "secrets.yaml", Content: []byte("v2\n")}},
				"second", Author{Name: "Rekey", Email: "rekey@example.test"})
			if errors.Is(err, ErrPushRejected) {
				t.Errorf("Commit: err = %v matches ErrPushRejected", err)
			}
			return err
		}},
	} {
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- op.run() }()
		select {
		case err := <-done:
			want := fmt.Sprintf("ssh handshake with 127.0.0.1:%d timed out after 700ms", sf.srv.port)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: err = %v, want it to say %q", op.name, err, want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("%s returned after %s", op.name, d)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("%s still blocked after 15s", op.name)
		}
		silent.waitClientClosed(t)
	}
	if got := sf.f.git(sf.bare, "rev-parse", "refs/heads/main"); got != sf.c1 {
		t.Errorf("remote main = %s, want %s", got, sf.c1)
	}
	checkNoSSHGoroutines(t)
}
