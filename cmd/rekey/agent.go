package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
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
	if err := agent.RequireJournal(o.stateDir, *bootstrap); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(e.stderr, nil))
	o.isolate = true // one invalid secret must not block the others
	met := metrics.New(metrics.WithLiveness(3 * max(*interval, *driftInterval)))
	a, rc, mon := newAgent(ctx, o.app(e), log, met, who, *interval, *driftInterval)
	defer mon.Close()
	if *statusAddr != "" {
		stop, err := agent.ServeHTTP(*statusAddr, statuspage.Handler(mon, statusOpts...))
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
	ctl, err := agent.ListenControl(o.stateDir)
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

// newAgent wires the agent: its runner (apply, scheduled rotation), its monitor (drift scans, alerts,
// status page) and, when drift is scanned, the watcher of the stack's files.
func newAgent(ctx context.Context, o app.Options, log *slog.Logger, met *metrics.Metrics, who gitsync.Author,
	interval, driftInterval time.Duration) (*agent.Agent, *agent.Runner, *agent.Monitor) {
	host, _ := os.Hostname()
	mon := agent.NewMonitor(o, log, met, host, version)
	rc := &agent.Runner{Options: o, Log: log, Author: who, Monitor: mon}
	aopts := []agent.Option{agent.WithInterval(interval), agent.WithLogger(log)}
	if driftInterval > 0 {
		aopts = append(aopts, agent.WithScanner(mon, driftInterval))
	}
	a := agent.New(rc, aopts...)
	var fw *agent.FileWatcher
	if driftInterval > 0 {
		var err error
		if fw, err = agent.NewFileWatcher(a); err != nil {
			log.Warn("not watching the stack's files; drift is found by the interval scan", "error", err)
			fw = nil
		} else {
			go fw.Run(ctx)
		}
	}
	mon.Attach(a, fw)
	return a, rc, mon
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
	stop, err := agent.ServeHTTP(addr, h) // bounded reads: a client not authenticated yet must not hold connections
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

// cmdReconcile asks a running agent to reconcile now and prints what happened.
func cmdReconcile(ctx context.Context, args []string, e env) error {
	var o options
	if err := o.parse(newFlagSet("reconcile", e.stderr, &o), args); err != nil {
		return err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", filepath.Join(o.stateDir, agent.ControlSocket))
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
