package main

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/rekeyhq/rekey/dockerio"
	"github.com/rekeyhq/rekey/engine"
	"github.com/rekeyhq/rekey/journal"
	"github.com/rekeyhq/rekey/reconcile"
)

func cmdApply(ctx context.Context, args []string, e env) error {
	var o options
	if err := o.parse(newFlagSet("apply", e.stderr, &o), args); err != nil {
		return err
	}
	s, err := load(ctx, &o, e)
	if err != nil {
		return err
	}
	if err := engine.Preflight(s.desired); err != nil {
		return err
	}
	var jopts []journal.Option
	if o.killAfter > 0 {
		jopts = append(jopts, journal.WithKillAfter(o.killAfter))
	}
	j, err := journal.Open(o.stateDir, jopts...)
	if err != nil {
		return err
	}
	defer j.Close()
	eng, err := dockerio.New(ctx, dockerio.WithHost(o.dockerHost), dockerio.WithRedactor(s.redact.String))
	if err != nil {
		return err
	}
	defer eng.Close()
	ex := s.executor(eng, j, e.stderr)
	obs := &engine.Observer{FP: s.fp.Of, Txns: j, Now: time.Now}
	results, err := reconcile.Apply(ctx, s.desired, obs, ex)
	if o.json() {
		if werr := writeJSON(e.stdout, applyOut{Revision: s.commit.Hash, Results: results}); werr != nil {
			return werr
		}
	} else {
		printResults(e.stdout, results)
	}
	if err != nil {
		return s.redact.Error(err)
	}
	if code := exitFor(results); code != exitOK {
		return &codeError{code: code}
	}
	return nil
}

type applyOut struct {
	Revision string             `json:"revision"`
	Results  []reconcile.Result `json:"results"`
}

func (s *session) executor(eng *dockerio.Engine, j *journal.Journal, stderr io.Writer) *reconcile.Executor {
	compose := dockerio.Compose{
		Command: s.cfg.Compose.Command,
		Dir:     s.project.Dir(),
		Project: s.project.Name(),
		Files:   s.project.Files(),
		Env:     dockerio.ChildEnv(s.e.getenv, s.o.dockerHost),
		Redact:  s.redact.String,
	}
	stack := &engine.Stack{Engine: eng, Compose: compose, HealthTimeout: s.cfg.HealthTimeout.Duration}
	checks := &engine.Checks{Engine: eng, Project: s.project.Name(), HTTP: &http.Client{Timeout: 5 * time.Second},
		HostEnv: hostEnv(s.e.getenv), Redact: s.redact.String, LogSettle: time.Second}
	var files engine.Files
	ex := &reconcile.Executor{
		Values: s.value, Reader: files, Writer: files, Snap: j, Restorer: j,
		Roller: stack, Health: stack, Verifier: checks, Journal: j,
		Now: time.Now, NewID: newTxnID,
	}
	if !s.o.quiet {
		ex.Progress = progress(stderr)
	}
	return ex
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
