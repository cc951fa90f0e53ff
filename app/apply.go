package app

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/rekeyhq/rekey/dockerio"
	"github.com/rekeyhq/rekey/journal"
	"github.com/rekeyhq/rekey/live"
	"github.com/rekeyhq/rekey/reconcile"
)

// Apply resolves the ref, runs the trust guard, and only then loads the desired state and applies it.
// The journal is held from the guard to the end, so the applied commit cannot move in between. A nil
// session means nothing was attempted (the error says why).
func Apply(ctx context.Context, o Options) (*Session, []reconcile.Result, error) {
	return apply(ctx, o, nil)
}

// apply is Apply with a step between the load and the apply, run with the journal held: it may replace
// the session (the agent's scheduled rotations commit new values and load the desired state again).
func apply(ctx context.Context, o Options, then func(*Session, *journal.Journal) (*Session, error)) (*Session, []reconcile.Result, error) {
	s, err := open(ctx, o)
	if err != nil {
		return nil, nil, err
	}
	j, err := journal.Open(s.Options.StateDir, s.Options.journalOptions()...)
	if err != nil {
		return nil, nil, err
	}
	defer j.Close()
	if err := s.guard(j); err != nil {
		return nil, nil, err
	}
	if err := s.read(ctx); err != nil {
		return nil, nil, err
	}
	if then != nil {
		if s, err = then(s, j); err != nil {
			return nil, nil, err
		}
	}
	// From here the values are decrypted: an error that stops the run before anything was attempted is
	// redacted here, since callers redact only through the session they get back.
	if err := live.Preflight(s.Desired); err != nil {
		return nil, nil, s.Redact.Error(err)
	}
	if err := takeOrphans(j, s); err != nil {
		return nil, nil, s.Redact.Error(err)
	}
	eng, err := dockerio.New(ctx, dockerio.WithHost(s.DockerHost()), dockerio.WithRedactor(s.Redact.String))
	if err != nil {
		return nil, nil, Transient(s.Redact.Error(err))
	}
	defer eng.Close()
	obs := &live.Observer{Files: s.files(nil), FP: s.FP.Of, Journal: j, Now: time.Now, Drift: s.DriftScanner(eng, j)}
	s.Desired.Retry, s.Desired.Heal = s.Options.Retry, s.Options.Heal
	ex, err := s.executor(eng, j)
	if err != nil {
		return nil, nil, s.Redact.Error(err)
	}
	var observer reconcile.Observer = obs
	if s.Config.IsSwarm() { // app/swarm.go
		o, done, err := s.useSwarm(ctx, obs, ex)
		if err != nil {
			return nil, nil, s.Redact.Error(err)
		}
		defer done()
		observer = o
	}
	results, err := reconcile.Apply(ctx, s.Desired, orphanObserver{Observer: observer, Journal: j}, ex)
	if err == nil {
		// This commit was acted on: later ones must descend from it.
		err = j.SetApplied(ctx, s.Commit.Hash)
	}
	return s, results, err
}

// Outcome is the error an apply ends with: what already happened (a rollback, a failure) says more than
// the error that stopped the run, so a verdict other than OK wins, carrying that error's redacted text
// and, one line per secret, what to do next (NextSteps).
func (s *Session) Outcome(results []reconcile.Result, err error) error {
	if v := VerdictOf(results); v != VerdictOK {
		var lines []string
		if err != nil {
			lines = append(lines, err.Error())
		}
		lines = append(lines, NextSteps(s.Options.StateDir, results, s.servers(), err)...)
		return &OutcomeError{Verdict: v, Msg: s.Redact.String(strings.Join(lines, "\n"))}
	}
	return s.Redact.Error(err)
}

// servers maps each secret with a credential server to the server's name.
func (s *Session) servers() map[string]string {
	m := map[string]string{}
	for _, sec := range s.Desired.Secrets {
		if sec.Server != nil {
			m[sec.Name] = sec.Server.Name
		}
	}
	return m
}

// compose is how the stack's Compose CLI is run for this desired state.
func (s *Session) compose() dockerio.Compose {
	return dockerio.Compose{
		Command: s.Config.Compose.Command,
		Dir:     s.Project.Dir(),
		Project: s.Project.Name(),
		Files:   s.Project.Files(),
		Env:     dockerio.ChildEnv(s.Options.Getenv, s.DockerHost()),
		Redact:  s.Redact.String,
	}
}

func (s *Session) executor(eng *dockerio.Engine, j *journal.Journal) (*reconcile.Executor, error) {
	startFirst, err := s.startFirst()
	if err != nil {
		return nil, err
	}
	stack := &live.Stack{Engine: eng, Compose: s.compose(), HealthTimeout: s.Config.HealthTimeout.Duration, StartFirst: startFirst}
	if s.Options.Trace != nil {
		stack.Trace = live.TraceLines(s.Options.Trace)
	}
	checks := &live.Checks{Engine: eng, Project: s.Project.Name(), HTTP: &http.Client{Timeout: 5 * time.Second},
		HostEnv: HostEnv(s.Options.Getenv), Redact: s.Redact.String, LogSettle: time.Second}
	files := s.files(s.Options.Warn) // no symlink below the project directory
	// Every write of this run goes through files, so the shared config hashes are never stale.
	files.Written = stack.ShareConfigHashes()
	ex := &reconcile.Executor{
		Values: s.Value, Reader: files, Writer: files, Stash: j,
		Roller: stack, Health: stack, Verifier: checks, Journal: j,
		Now: time.Now, NewID: newTxnID, Redact: s.Redact.String, FP: s.FP.Of,
		Progress: s.Options.Progress,
	}
	creds, err := live.NewCredentials(s.Config, s.Value, eng, s.Project.Name(), HostEnv(s.Options.Getenv))
	if err != nil {
		return nil, err
	}
	ex.Credentials = creds
	return ex, nil
}

// HostEnv is the environment of host check commands: enough to run, never a secret.
func HostEnv(getenv func(string) string) []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "LANG", "TZ"} {
		if v := getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}
