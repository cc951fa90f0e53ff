package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// ControlSocket is where a running agent takes `rekey reconcile` requests. It lives in the state dir,
// whose 0700 mode keeps other users out.
const ControlSocket = "agent.sock"

// ListenControl listens on the agent's control socket in stateDir (0600, in the 0700 state dir),
// refusing when another agent already answers there.
func ListenControl(stateDir string) (net.Listener, error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create the state dir: %w", err)
	}
	path := filepath.Join(stateDir, ControlSocket)
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("an agent is already running on %s", stateDir)
	}
	_ = os.Remove(path) // left by an agent that did not stop cleanly
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("failed to listen on %s: %w", path, err)
	}
	// The 0700 state dir already keeps others out; the socket's own mode says the same.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("failed to restrict %s: %w", path, err)
	}
	return ln, nil
}

// ServeHTTP serves h on addr with bounded reads and writes, until the returned stop is called.
func ServeHTTP(addr string, h http.Handler) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 64 << 10}
	go srv.Serve(ln)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}

// RequireJournal fails closed: the history-rewrite and replay guards live in the journal, so an
// unattended agent does not silently start over when the state dir is missing or was wiped.
func RequireJournal(stateDir string, bootstrap bool) error {
	_, err := os.Stat(filepath.Join(stateDir, "journal.db"))
	switch {
	case err == nil || bootstrap:
		return nil
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("state dir %s has no journal: without it the rewrite and replay guards start over. Run rekey apply once by hand (or start the agent with --bootstrap on a new install)", stateDir)
	}
	return fmt.Errorf("failed to check the journal in %s: %w", stateDir, err)
}
