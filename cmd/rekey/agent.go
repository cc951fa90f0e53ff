package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rekeyhq/rekey/agent"
	"github.com/rekeyhq/rekey/app"
	"github.com/rekeyhq/rekey/gitsync"
	"github.com/rekeyhq/rekey/metrics"
	"github.com/rekeyhq/rekey/statuspage"
	"github.com/rekeyhq/rekey/webhook"
)

// controlSocket is where a running agent takes `rekey reconcile` requests. It lives in the state dir,
// whose 0700 mode keeps other users out.
const controlSocket = "agent.sock"

func cmdAgent(ctx context.Context, args []string, e env) error {
	var o options
	fs := newFlagSet("agent", e.stderr, &o)
	interval := fs.Duration("interval", time.Minute, "reconcile at least this often")
	hookAddr := fs.String("webhook-addr", "", "address for push webhooks (GitHub, Gitea/Forgejo, GitLab), e.g. 127.0.0.1:9000; off when empty")
	hookSecret := fs.String("webhook-secret-file", "", "file holding the shared webhook secret (required with --webhook-addr)")
	author := fs.String("author", "rekey <rekey@localhost>", "author of scheduled-rotation commits")
	signingKey := fs.String("signing-key", "", "private key that signs scheduled-rotation commits: unencrypted OpenSSH, or armored OpenPGP without a passphrase (trust its public key with --trust-ssh or --trust-openpgp)")
	bootstrap := fs.Bool("bootstrap", false, "allow starting on an empty state dir (otherwise run rekey apply once by hand first)")
	driftInterval := fs.Duration("drift-interval", time.Minute, "scan for drift at least this often (also on file changes and container starts); 0 turns scans off")
	metricsAddr := fs.String("metrics-addr", "", "address for /metrics, /healthz and /readyz, e.g. 127.0.0.1:9464; off when empty")
	statusAddr := fs.String("status-addr", "", "address for the read-only status page, e.g. 127.0.0.1:9465; off when empty")
	statusAuth := fs.String("status-basic-auth-file", "", "file holding user:password for the status page (required when --status-addr is not loopback)")
	if err := o.parse(fs, args); err != nil {
		return err
	}
	who, err := parseAuthor(*author, *signingKey)
	if err != nil {
		return err
	}

	if *interval <= 0 {
		return usageError("--interval must be positive, got %s", *interval)
	}
	if *driftInterval < 0 {
		return usageError("--drift-interval must not be negative, got %s", *driftInterval)
	}
	statusOpts, err := statusOptions(*statusAddr, *statusAuth)
	if err != nil {
		return err
	}
	if err := requireJournal(o.stateDir, *bootstrap); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(e.stderr, nil))
	o.isolate = true // one invalid secret must not block the others
	met := metrics.New(metrics.WithLiveness(3 * max(*interval, *driftInterval)))
	host, _ := os.Hostname()
	mon := agent.NewMonitor(o.app(e), log, met, host, version)
	defer mon.Close()
	rc := &agent.Runner{Options: o.app(e), Log: log, Author: who, Monitor: mon}
	aopts := []agent.Option{agent.WithInterval(*interval), agent.WithLogger(log)}
	if *driftInterval > 0 {
		aopts = append(aopts, agent.WithScanner(mon, *driftInterval))
	}
	a := agent.New(rc, aopts...)
	var fw *agent.FileWatcher
	if *driftInterval > 0 {
		if fw, err = agent.NewFileWatcher(a); err != nil {
			log.Warn("not watching the stack's files; drift is found by the interval scan", "error", err)
			fw = nil
		} else {
			go fw.Run(ctx)
		}
	}
	mon.Attach(a, fw)
	if *statusAddr != "" {
		stop, err := serveHTTP(*statusAddr, statuspage.Handler(mon, statusOpts...))
		if err != nil {
			return fmt.Errorf("failed to serve the status page: %w", err)
		}
		defer stop()
		log.Info("serving the status page", "addr", *statusAddr)
	}
	if *metricsAddr != "" {
		go func() {
			if err := met.Serve(ctx, *metricsAddr); err != nil {
				log.Error("metrics endpoint stopped", "error", err)
			}
		}()
	}
	ctl, err := listenControl(o.stateDir)
	if err != nil {
		return err
	}
	defer ctl.Close()
	go serveControl(ctx, ctl, a, rc, log)
	if *hookAddr != "" {
		stop, err := serveWebhooks(*hookAddr, *hookSecret, o.ref, a, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	if !gitsync.IsRemote(o.repo) {
		go func() {
			if err := agent.WatchRepo(ctx, o.repo, a); err != nil {
				log.Warn("not watching the repository; relying on the interval", "error", err)
			}
		}()
	}
	log.Info("agent started", "repo", o.repo, "ref", o.ref, "interval", *interval, "drift_interval", *driftInterval,
		"webhooks", *hookAddr, "metrics", *metricsAddr, "status", *statusAddr)
	err = a.Run(ctx)
	log.Info("agent stopped")
	return err
}

func listenControl(stateDir string) (net.Listener, error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create the state dir: %w", err)
	}
	path := filepath.Join(stateDir, controlSocket)
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

// serveControl answers `rekey reconcile`: run now, wait, send the results and an exit code.
func serveControl(ctx context.Context, ln net.Listener, a *agent.Agent, rc *agent.Runner, log *slog.Logger) {
	go func() { <-ctx.Done(); ln.Close() }()
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer conn.Close()
			line, _ := bufio.NewReader(conn).ReadString('\n')
			if strings.TrimSpace(line) != "reconcile" {
				fmt.Fprintln(conn, "exit 2 unknown request")
				return
			}
			err := a.Reconcile(ctx, "rekey reconcile")
			if errors.Is(err, context.Canceled) {
				fmt.Fprintf(conn, "exit %d the agent stopped before the run\n", exitError)
				return
			}
			printResults(conn, rc.Results())
			code := int(app.VerdictOf(rc.Results()))
			if c, ok := typedExit(err); ok {
				code = c
			} else if err != nil && code == exitOK {
				code = exitError
			}
			fmt.Fprintf(conn, "exit %d %s\n", code, oneLine(errString(err)))
		}()
	}
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }

// serveWebhooks listens for push webhooks and triggers a run when the tracked branch moves.
func serveWebhooks(addr, secretFile, ref string, a *agent.Agent, log *slog.Logger) (func(), error) {
	if secretFile == "" {
		return nil, usageError("--webhook-addr needs --webhook-secret-file")
	}
	raw, err := os.ReadFile(secretFile)
	if err != nil {
		return nil, fmt.Errorf("failed to read the webhook secret: %w", err)
	}
	secret := []byte(strings.TrimSpace(string(raw)))
	if len(secret) < 16 {
		return nil, fmt.Errorf("the webhook secret in %s is empty or shorter than 16 characters: generate one (e.g. openssl rand -hex 32)", secretFile)
	}
	h := webhook.New(secret, func(p webhook.Push) {
		if ref == "" || p.Branch == ref || p.Ref == ref {
			a.Trigger("push via " + p.Provider)
		}
	}, webhook.WithLogger(log))
	stop, err := serveHTTP(addr, h) // bounded reads: a client not authenticated yet must not hold connections
	if err != nil {
		return nil, fmt.Errorf("failed to listen for webhooks on %s: %w", addr, err)
	}
	log.Info("listening for webhooks", "addr", addr)
	return stop, nil
}

// statusOptions checks the status page flags before anything starts: a page reachable from other hosts
// needs a password.
func statusOptions(addr, authFile string) ([]statuspage.Option, error) {
	if addr == "" {
		if authFile != "" {
			return nil, usageError("--status-basic-auth-file needs --status-addr")
		}
		return nil, nil
	}
	var opts []statuspage.Option
	if authFile != "" {
		user, password, err := statuspage.ReadBasicAuthFile(authFile)
		if err != nil {
			return nil, err
		}
		opts = append(opts, statuspage.WithBasicAuth(user, password))
	}
	if err := statuspage.CheckExposure(addr, authFile != ""); err != nil {
		return nil, usageError("%v", err)
	}
	return opts, nil
}

// serveHTTP serves h on addr with bounded reads and writes, until the returned stop is called.
func serveHTTP(addr string, h http.Handler) (func(), error) {
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

// cmdReconcile asks a running agent to reconcile now and prints what happened.
func cmdReconcile(ctx context.Context, args []string, e env) error {
	var o options
	if err := o.parse(newFlagSet("reconcile", e.stderr, &o), args); err != nil {
		return err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", filepath.Join(o.stateDir, controlSocket))
	if err != nil {
		return fmt.Errorf("no agent is running on %s (%v): start one with `rekey agent`, or run `rekey apply`", o.stateDir, err)
	}
	defer conn.Close()
	go func() { <-ctx.Done(); conn.Close() }() // Ctrl-C stops waiting; the agent's run goes on
	fmt.Fprintln(conn, "reconcile")
	return relayControl(conn, e.stdout)
}

// relayControl copies the agent's answer and turns its last line into the exit code.
func relayControl(r io.Reader, w io.Writer) error {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		var code int
		if n, _ := fmt.Sscanf(line, "exit %d", &code); n == 1 {
			msg := strings.TrimSpace(strings.TrimPrefix(line, fmt.Sprintf("exit %d", code)))
			if code == exitOK {
				return nil
			}
			return &codeError{code: code, msg: msg}
		}
		fmt.Fprintln(w, line)
	}
	return errors.New("the agent closed the connection without an answer; see its log")
}

// requireJournal fails closed: the history-rewrite and replay guards live in the journal, so an
// unattended agent does not silently start over when the state dir is missing or was wiped.
func requireJournal(stateDir string, bootstrap bool) error {
	_, err := os.Stat(filepath.Join(stateDir, "journal.db"))
	switch {
	case err == nil || bootstrap:
		return nil
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("state dir %s has no journal: without it the rewrite and replay guards start over. Run rekey apply once by hand (or start the agent with --bootstrap on a new install)", stateDir)
	}
	return fmt.Errorf("failed to check the journal in %s: %w", stateDir, err)
}
