package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"filippo.io/age"

	"github.com/rekeyhq/rekey/agent"
	"github.com/rekeyhq/rekey/composeio"
	"github.com/rekeyhq/rekey/config"
	"github.com/rekeyhq/rekey/engine"
	"github.com/rekeyhq/rekey/gitsync"
	"github.com/rekeyhq/rekey/internal/fingerprint"
	"github.com/rekeyhq/rekey/internal/redact"
	"github.com/rekeyhq/rekey/live"
	"github.com/rekeyhq/rekey/reconcile"
	"github.com/rekeyhq/rekey/sopsio"
)

// configFile is the name of the plaintext desired state at the root of the repository.
const configFile = "rekey.yaml"

// session is the loaded desired state, ready to plan or apply.
type session struct {
	o       *options
	e       env
	repo    *gitsync.Repo
	commit  gitsync.Commit
	cfg     *config.Config
	values  map[string]string
	project *composeio.Project
	fp      fingerprint.Key
	desired reconcile.Desired
	redact  *redact.Redactor
	skipped []skippedSecret // invalid secrets left out (agent only)
}

// skippedSecret is a secret the agent left out because its declaration or value is invalid.
type skippedSecret struct {
	name string
	err  error
}

// load reads the desired state at the ref, decrypts the values, loads the Compose project and builds the
// desired state. It changes nothing outside the state dir.
func load(ctx context.Context, o *options, e env) (*session, error) {
	s := &session{o: o, e: e}
	auth, err := o.gitAuth()
	if err != nil {
		return nil, err
	}
	gopts := []gitsync.Option{gitsync.WithCacheDir(filepath.Join(o.stateDir, "repos"))}
	if auth != nil {
		gopts = append(gopts, gitsync.WithAuth(auth))
	}
	repo, err := gitsync.Open(ctx, o.repo, gopts...)
	if err != nil && gitsync.IsRemote(o.repo) {
		return nil, agent.Transient(err) // the remote may be back soon; the agent retries with backoff
	}
	if err != nil {
		return nil, err
	}
	s.repo = repo
	if s.commit, err = repo.Resolve(o.ref); err != nil {
		return nil, err
	}
	raw, err := repo.ReadFile(s.commit.Hash, configFile)
	if err != nil {
		return nil, fmt.Errorf("failed to read %s from %s: %w", configFile, repo, err)
	}
	if s.cfg, err = config.Parse(configFile, raw); err != nil {
		return nil, err
	}
	if s.values, err = s.decrypt(repo); err != nil {
		return nil, err
	}
	secrets := make([]string, 0, len(s.values))
	for _, v := range s.values {
		secrets = append(secrets, v)
	}
	s.redact = redact.New(secrets...)
	if s.project, err = s.loadProject(ctx); err != nil {
		return nil, s.redact.Error(err)
	}
	if s.fp, err = fingerprint.LoadOrCreateKey(o.stateDir); err != nil {
		return nil, err
	}
	in := engine.Input{Config: s.cfg, Project: s.project, Values: s.values, FP: s.fp.Of, Revision: s.commit.Hash}
	if o.isolate {
		in.Skip = func(name string, err error) { s.skipped = append(s.skipped, skippedSecret{name, err}) }
	}
	s.desired, err = engine.Build(ctx, in)
	if err != nil {
		return nil, s.redact.Error(err)
	}
	// The values live now will be rolled away or restored: they must never show either.
	live, err := liveValues(ctx, s.desired)
	if err != nil {
		return nil, s.redact.Error(err)
	}
	s.redact = redact.New(append(secrets, live...)...)
	return s, nil
}

// liveValues reads every value at every location of the desired state.
func liveValues(ctx context.Context, d reconcile.Desired) ([]string, error) {
	values, err := live.Files{}.ReadValues(ctx, live.AllLocations(d))
	if err != nil {
		return nil, err
	}
	return slices.Collect(maps.Values(values)), nil
}

// identities reads the age identities from the key file the options and environment name.
func identities(o *options, e env) ([]age.Identity, error) {
	keyFile, err := o.keyFile(e)
	if err != nil {
		return nil, err
	}
	keys, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("failed to read the age key file: %w; pass --age-key-file", err)
	}
	ids, err := sopsio.LoadIdentities(bytes.NewReader(keys))
	if err != nil {
		return nil, fmt.Errorf("failed to read age identities from %s: %w", keyFile, err)
	}
	return ids, nil
}

func (s *session) decrypt(repo *gitsync.Repo) (map[string]string, error) {
	ids, err := identities(s.o, s.e)
	if err != nil {
		return nil, err
	}
	data, err := repo.ReadFile(s.commit.Hash, s.cfg.Values)
	if err != nil {
		return nil, fmt.Errorf("failed to read the values file named in %s:%d: %w", configFile, s.cfg.Line("values"), err)
	}
	return sopsio.DecryptValues(data, s.cfg.Values, ids)
}

func (s *session) loadProject(ctx context.Context) (*composeio.Project, error) {
	c := s.cfg.Compose
	var opts []composeio.Option
	if c.ProjectName != "" {
		opts = append(opts, composeio.WithProjectName(c.ProjectName))
	}
	if len(c.Files) > 0 {
		opts = append(opts, composeio.WithFiles(c.Files...))
	}
	return composeio.Load(ctx, c.ProjectDir, opts...)
}

func (s *session) value(name string) (string, bool) {
	v, ok := s.values[name]
	return v, ok
}

// dockerHost is the one engine address both the API client and the Compose CLI use: the flag, then
// $DOCKER_HOST, then the local socket.
func (s *session) dockerHost() string {
	if s.o.dockerHost != "" {
		return s.o.dockerHost
	}
	return s.e.getenv("DOCKER_HOST")
}

func newTxnID() string {
	var b [3]byte
	_, _ = randRead(b[:])
	return fmt.Sprintf("%s-%x", time.Now().UTC().Format("20060102T150405Z"), b)
}

// warn tells the operator something worth knowing that does not stop the command.
func (s *session) warn(msg string) {
	fmt.Fprintf(s.e.stderr, "rekey: warning: %s\n", msg)
}
