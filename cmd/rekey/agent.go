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

	"github.com/spf13/cobra"

	"github.com/rekeyhq/rekey/agent"
	"github.com/rekeyhq/rekey/app"
	"github.com/rekeyhq/rekey/gitsync"
	"github.com/rekeyhq/rekey/journal"
	"github.com/rekeyhq/rekey/metrics"
	"github.com/rekeyhq/rekey/statuspage"
	"github.com/rekeyhq/rekey/webhook"
)

// agentFlags are the agent's own flags, beside the shared options.
type agentFlags struct {
	interval, driftInterval                          time.Duration
	hookAddr, hookSecret, author, signingKey         string
	metricsAddr, metricsAuth, statusAddr, statusAuth string
	bootstrap                                        bool
	journalRetention                                 int
}

func agentCmd(e env) *cobra.Command {
	var o options
	var f agentFlags
	c := withOptions(&cobra.Command{
		Use:   "agent",
		Short: "Reconcile continuously: on an interval, on push webhooks, on local commits",
		Long: `Agent runs until SIGTERM or SIGINT and reconciles (one apply per run) at start, every --interval, when a
local --repo's refs change, on authenticated push webhooks for the tracked branch, and when asked by
rekey reconcile. Each run first writes back and applies a new value for every secret whose rotate_every
has passed. A secret whose declaration or value is invalid is skipped and logged; the others are
reconciled. Between runs it scans for drift, and it can serve Prometheus metrics and a read-only status
page. Logs go to stderr.`,
		Example: `  rekey agent --repo /srv/stack-secrets --age-key-file /etc/rekey/age.key --trust-ssh /etc/rekey/trusted-signers
  rekey agent --repo https://git.example.com/ops/secrets.git --git-token-file /etc/rekey/token \
    --webhook-addr 127.0.0.1:9000 --webhook-secret-file /etc/rekey/webhook-secret \
    --metrics-addr 127.0.0.1:9464 --signing-key /etc/rekey/signing-key`,
		Args: noArgs,
	}, &o, func(ctx context.Context, _ []string) error { return runAgent(ctx, &o, &f, e) })
	fs := c.Flags()
	fs.DurationVar(&f.interval, "interval", time.Minute, "reconcile at least this often")
	fs.StringVar(&f.hookAddr, "webhook-addr", "", "address for push webhooks (GitHub, Gitea/Forgejo, GitLab), e.g. 127.0.0.1:9000; off when empty")
	fs.StringVar(&f.hookSecret, "webhook-secret-file", "", "file holding the shared webhook secret (required with --webhook-addr)")
	bindAuthor(c, &f.author, &f.signingKey, "scheduled-rotation commits")
	fs.BoolVar(&f.bootstrap, "bootstrap", false, "allow starting on an empty state dir (otherwise run rekey apply once by hand first)")
	fs.DurationVar(&f.driftInterval, "drift-interval", time.Minute, "scan for drift at least this often (also on file changes and container starts); 0 turns scans off")
	fs.StringVar(&f.metricsAddr, "metrics-addr", "", "address for /metrics, /healthz and /readyz, e.g. 127.0.0.1:9464; off when empty")
	fs.StringVar(&f.metricsAuth, "metrics-basic-auth-file", "", "file holding user:password for the metrics endpoint (required when --metrics-addr is not loopback)")
	fs.StringVar(&f.statusAddr, "status-addr", "", "address for the read-only status page, e.g. 127.0.0.1:9465; off when empty")
	fs.StringVar(&f.statusAuth, "status-basic-auth-file", "", "file holding user:password for the status page (required when --status-addr is not loopback)")
	fs.IntVar(&f.journalRetention, "journal-retention", journal.DefaultRetention, "finished transactions of each secret the journal keeps in full (older ones are summarised); 0 keeps everything")
	completeFiles(c, "webhook-secret-file", "metrics-basic-auth-file", "status-basic-auth-file")
	completeWords(c, "interval")
	completeWords(c, "drift-interval")
	completeWords(c, "webhook-addr")
	completeWords(c, "metrics-addr")
	completeWords(c, "status-addr")
	return c
}

// check validates the agent's flags before anything starts; it returns the options of the two HTTP
// endpoints.
func (f *agentFlags) check() ([]metrics.Option, []statuspage.Option, error) {
	if f.interval <= 0 {
		return nil, nil, usageError("--interval must be positive, got %s", f.interval)
	}
	if f.journalRetention < 0 {
		return nil, nil, usageError("--journal-retention must not be negative, got %d", f.journalRetention)
	}
	if f.driftInterval < 0 {
		return nil, nil, usageError("--drift-interval must not be negative, got %s", f.driftInterval)
	}
	statusOpts, err := statusOptions(f.statusAddr, f.statusAuth)
	if err != nil {
		return nil, nil, err
	}
	metricsOpts, err := metricsOptions(f.metricsAddr, f.metricsAuth)
	if err != nil {
		return nil, nil, err
	}
	metricsOpts = append(metricsOpts, metrics.WithLiveness(3*max(f.interval, f.driftInterval)))
	return metricsOpts, statusOpts, nil
}

func runAgent(ctx context.Context, o *options, f *agentFlags, e env) error {
	who, err := parseAuthor(f.author, f.signingKey)
	if err != nil {
		return err
	}
	metricsOpts, statusOpts, err := f.check()
	if err != nil {
		return err
	}
	if err := agent.RequireJournal(o.stateDir, f.bootstrap); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(e.stderr, nil))
	if o.trustSSH == "" && o.trustOpenPGP == "" {
		agent.WarnUnverified(log, o.repo, o.ref)
	}
	o.isolate = true // one invalid secret must not block the others
	met := metrics.New(metricsOpts...)
	ao := o.app(e)
	ao.JournalRetention = f.journalRetention
	if f.journalRetention == 0 {
		ao.JournalRetention = -1 // keep everything (0 in Options keeps the stored retention)
	}
	a, rc, mon := newAgent(ctx, ao, log, met, who, f.interval, f.driftInterval)
	defer mon.Close()
	if f.statusAddr != "" {
		stop, err := agent.ServeHTTP(f.statusAddr, statuspage.Handler(mon, statusOpts...))
		if err != nil {
			return fmt.Errorf("failed to serve the status page: %w", err)
		}
		defer stop()
		log.Info("serving the status page", "addr", f.statusAddr)
	}
	if f.metricsAddr != "" {
		go func() {
			if err := met.Serve(ctx, f.metricsAddr); err != nil {
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
	if f.hookAddr != "" {
		stop, err := serveWebhooks(f.hookAddr, f.hookSecret, o.ref, a, log)
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
	log.Info("agent started", "repo", o.repo, "ref", o.ref, "interval", f.interval, "drift_interval", f.driftInterval,
		"webhooks", f.hookAddr, "metrics", f.metricsAddr, "status", f.statusAddr)
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

// metricsOptions checks the metrics flags before anything starts, as statusOptions does for the page:
// metrics reachable from other hosts need a password (they name every secret).
func metricsOptions(addr, authFile string) ([]metrics.Option, error) {
	if addr == "" {
		if authFile != "" {
			return nil, usageError("--metrics-basic-auth-file needs --metrics-addr")
		}
		return nil, nil
	}
	var opts []metrics.Option
	if authFile != "" {
		user, password, err := statuspage.ReadBasicAuthFile(authFile) // the same file format as the page's
		if err != nil {
			return nil, fmt.Errorf("--metrics-basic-auth-file: %w", err)
		}
		opts = append(opts, metrics.WithBasicAuth(user, password))
	}
	if err := metrics.CheckExposure(addr, authFile != ""); err != nil {
		return nil, usageError("%v", err)
	}
	return opts, nil
}

// reconcileCmd asks a running agent to reconcile now and prints what happened.
func reconcileCmd(e env) *cobra.Command {
	var o options
	return withOptions(&cobra.Command{
		Use:   "reconcile",
		Short: "Ask the running agent to reconcile now, and print what happened",
		Long: `Reconcile asks the agent on --state-dir to run now, waits, and prints that run's results as apply does.
Its exit code is apply's for those results. Ctrl-C stops waiting, not the run.`,
		Example: `  rekey reconcile
  rekey reconcile --state-dir /var/lib/rekey`,
		Args: noArgs,
	}, &o, func(ctx context.Context, _ []string) error { return askReconcile(ctx, &o, e) })
}

func askReconcile(ctx context.Context, o *options, e env) error {
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
