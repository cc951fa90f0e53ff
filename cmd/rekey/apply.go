package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/rekeyhq/rekey/agent"
	"github.com/rekeyhq/rekey/dockerio"
	"github.com/rekeyhq/rekey/journal"
	"github.com/rekeyhq/rekey/live"
	"github.com/rekeyhq/rekey/reconcile"
)

func cmdApply(ctx context.Context, args []string, e env) error {
	var o options
	fs := newFlagSet("apply", e.stderr, &o)
	fs.BoolVar(&o.heal, "heal", false, "restore Git's value where the live value drifted while Git did not change (default: report drift, change nothing)")
	if err := o.parse(fs, args); err != nil {
		return err
	}
	o.retry = true // an operator asking again means: try again
	s, results, err := applyOnce(ctx, &o, e)
	if s == nil {
		return err
	}
	if o.json() {
		if werr := writeJSON(e.stdout, applyOut{Revision: s.commit.Hash, Results: results}); werr != nil {
			return werr
		}
	} else {
		printResults(e.stdout, results)
	}
	// Something that already happened (a rollback, a failure) says more than the error that stopped us.
	if code := exitFor(results); code != exitOK {
		return &codeError{code: code, msg: errText(s, err)}
	}
	return s.redact.Error(err)
}

func errText(s *session, err error) string {
	if err == nil {
		return ""
	}
	return s.redact.String(err.Error())
}

// refuseOrphans stops apply when the journal holds an unfinished transaction for a secret that is no
// longer declared: its sources may be half-written, and nothing in the config says how to roll it back.
func refuseOrphans(j *journal.Journal, s *session) error {
	all, err := j.All()
	if err != nil {
		return err
	}
	declared := map[string]bool{}
	for _, sec := range s.desired.Secrets {
		declared[sec.Name] = true
	}
	for _, sk := range s.skipped { // declared, only invalid now: left alone, not an orphan
		declared[sk.name] = true
	}
	bySecret := map[string][]reconcile.Record{}
	for _, r := range all {
		if !declared[r.Secret] {
			bySecret[r.Secret] = append(bySecret[r.Secret], r)
		}
	}
	for name, recs := range bySecret {
		if t := reconcile.Replay(recs); t != nil {
			return fmt.Errorf("secret %s has an unfinished transaction %s (%s) but is no longer in %s: put its declaration back and run apply to finish it, then remove it",
				name, t.ID, t.Phase, configFile)
		}
	}
	return nil
}

// applyOnce loads the desired state and applies it. A nil session means nothing was attempted.
func applyOnce(ctx context.Context, o *options, e env) (*session, []reconcile.Result, error) {
	s, err := load(ctx, o, e)
	if err != nil {
		return nil, nil, err
	}
	if err := live.Preflight(s.desired); err != nil {
		return nil, nil, err
	}
	var jopts []journal.Option
	if o.killAfter > 0 {
		jopts = append(jopts, journal.WithKillAfter(o.killAfter))
	}
	j, err := journal.Open(o.stateDir, jopts...)
	if err != nil {
		return nil, nil, err
	}
	defer j.Close()
	if err := s.guard(j); err != nil {
		return nil, nil, err
	}
	if err := refuseOrphans(j, s); err != nil {
		return nil, nil, err
	}
	eng, err := dockerio.New(ctx, dockerio.WithHost(s.dockerHost()), dockerio.WithRedactor(s.redact.String))
	if err != nil {
		return nil, nil, agent.Transient(err)
	}
	defer eng.Close()
	obs := &live.Observer{FP: s.fp.Of, Journal: j, Now: time.Now, Drift: s.driftScanner(eng, j)}
	s.desired.Retry, s.desired.Heal = o.retry, o.heal
	ex, err := s.executor(eng, j, e.stderr)
	if err != nil {
		return nil, nil, err
	}
	results, err := reconcile.Apply(ctx, s.desired, obs, ex)
	if err == nil {
		// This commit was acted on: later ones must descend from it.
		err = j.SetApplied(ctx, s.commit.Hash)
	}
	return s, results, err
}

type applyOut struct {
	Revision string             `json:"revision"`
	Results  []reconcile.Result `json:"results"`
}

func (s *session) executor(eng *dockerio.Engine, j *journal.Journal, stderr io.Writer) (*reconcile.Executor, error) {
	compose := dockerio.Compose{
		Command: s.cfg.Compose.Command,
		Dir:     s.project.Dir(),
		Project: s.project.Name(),
		Files:   s.project.Files(),
		Env:     dockerio.ChildEnv(s.e.getenv, s.dockerHost()),
		Redact:  s.redact.String,
	}
	stack := &live.Stack{Engine: eng, Compose: compose, HealthTimeout: s.cfg.HealthTimeout.Duration}
	checks := &live.Checks{Engine: eng, Project: s.project.Name(), HTTP: &http.Client{Timeout: 5 * time.Second},
		HostEnv: hostEnv(s.e.getenv), Redact: s.redact.String, LogSettle: time.Second}
	var files live.Files
	ex := &reconcile.Executor{
		Values: s.value, Reader: files, Writer: files, Stash: j,
		Roller: stack, Health: stack, Verifier: checks, Journal: j,
		Now: time.Now, NewID: newTxnID, Redact: s.redact.String, FP: s.fp.Of,
	}
	creds, err := live.NewCredentials(s.cfg, s.value, eng, s.project.Name(), hostEnv(s.e.getenv))
	if err != nil {
		return nil, err
	}
	ex.Credentials = creds
	if !s.o.quiet {
		ex.Progress = newProgress(stderr, s.e.getenv)
		if s.o.isolate { // the agent: its log lines must not be redrawn over
			ex.Progress = progress(stderr)
		}
	}
	return ex, nil
}

// hostEnv is the environment of host check commands: enough to run, never a secret.
func hostEnv(getenv func(string) string) []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "LANG", "TZ"} {
		if v := getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}
