// Package app holds rekey's use cases: load a desired state (after the trust guard), plan, apply, status,
// drift, write-back and scheduled rotation, values set and adopt. It knows nothing of flags, the process
// environment or output formats: the CLI and the agent fill Options, call a use case, and print.
package app

import (
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"time"

	"github.com/rekeyhq/rekey/composeio"
	"github.com/rekeyhq/rekey/config"
	"github.com/rekeyhq/rekey/engine"
	"github.com/rekeyhq/rekey/gitsync"
	"github.com/rekeyhq/rekey/internal/fingerprint"
	"github.com/rekeyhq/rekey/internal/redact"
	"github.com/rekeyhq/rekey/journal"
	"github.com/rekeyhq/rekey/live"
	"github.com/rekeyhq/rekey/reconcile"
	"github.com/rekeyhq/rekey/sopsio"
)

// ConfigFile is the name of the plaintext desired state at the root of the repository.
const ConfigFile = "rekey.yaml"

// Session is a loaded desired state, ready to plan or apply.
type Session struct {
	Options Options
	Repo    *gitsync.Repo
	Commit  gitsync.Commit
	Config  *config.Config
	Project *composeio.Project
	FP      fingerprint.Key
	Desired reconcile.Desired
	Redact  *redact.Redactor
	Skipped []Skipped // invalid secrets left out (Options.Isolate only)

	values map[string]string // the decrypted values file: handed out one value at a time (Value)
	// redacted are the values Redact hides, so that an orphan's live values can be added (orphans.go).
	redacted []string
}

// Skipped is a secret left out because its declaration or value is invalid.
type Skipped struct {
	Name string
	Err  error
}

// Load reads the desired state at the ref, decrypts the values, loads the Compose project and builds the
// desired state. It runs no trust guard; see LoadTrusted, which the commands that only look (status, drift
// and the reports) use when a trust file is given. It changes nothing outside the state dir.
func Load(ctx context.Context, o Options) (*Session, error) {
	s, err := open(ctx, o)
	if err != nil {
		return nil, err
	}
	if err := s.read(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// LoadTrusted is Load behind the trust guard: the commit's history and signature are checked before
// anything it names (rekey.yaml, the values, the Compose files, the live values) is read.
func LoadTrusted(ctx context.Context, o Options) (*Session, error) {
	s, err := open(ctx, o)
	if err != nil {
		return nil, err
	}
	if err := s.withJournal(s.guard); err != nil {
		return nil, err
	}
	if err := s.read(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// LoadToLook is how the use cases that only look (status, drift) load: behind the trust guard when a
// trust file is given, so that an untrusted commit is refused before its tree is read; unguarded otherwise.
func LoadToLook(ctx context.Context, o Options) (*Session, error) {
	if o.TrustSSH != "" || o.TrustOpenPGP != "" {
		return LoadTrusted(ctx, o)
	}
	return Load(ctx, o)
}

// open resolves the ref: the first step of every use case, and all the guard needs.
func open(ctx context.Context, o Options) (*Session, error) {
	s := &Session{Options: o.normalized()}
	o = s.Options
	auth, err := o.GitAuth()
	if err != nil {
		return nil, err
	}
	gopts := []gitsync.Option{gitsync.WithCacheDir(filepath.Join(o.StateDir, "repos"))}
	if auth != nil {
		gopts = append(gopts, gitsync.WithAuth(auth))
	}
	repo, err := gitsync.Open(ctx, o.Repo, gopts...)
	if err != nil && gitsync.IsRemote(o.Repo) {
		return nil, Transient(err) // the remote may be back soon; the agent retries with backoff
	}
	if err != nil {
		return nil, err
	}
	s.Repo = repo
	if s.Commit, err = repo.Resolve(o.Ref); err != nil {
		return nil, err
	}
	return s, nil
}

// read loads what the resolved commit names. Only a trusted commit gets here when a guard applies.
func (s *Session) read(ctx context.Context) error {
	raw, err := s.Repo.ReadFile(s.Commit.Hash, ConfigFile)
	if err != nil {
		return fmt.Errorf("failed to read %s from %s: %w", ConfigFile, s.Repo, err)
	}
	if s.Config, err = config.Parse(ConfigFile, raw); err != nil {
		return err
	}
	if s.values, err = s.decrypt(); err != nil {
		return err
	}
	secrets := slices.Collect(maps.Values(s.values))
	s.Redact = redact.New(secrets...)
	if s.Project, err = s.loadProject(ctx); err != nil {
		return s.Redact.Error(err)
	}
	if s.FP, err = fingerprint.LoadOrCreateKey(s.Options.StateDir); err != nil {
		return err
	}
	in := engine.Input{Config: s.Config, Project: s.Project, Values: s.values, FP: s.FP.Of, Revision: s.Commit.Hash}
	if s.Options.Isolate {
		in.Skip = func(name string, err error) { s.Skipped = append(s.Skipped, Skipped{name, err}) }
	}
	if s.Desired, err = engine.Build(ctx, in); err != nil {
		return s.Redact.Error(err)
	}
	// The values live now will be rolled away or restored: they must never show either.
	live, err := liveValues(ctx, s.Project.Dir(), s.Desired)
	if err != nil {
		return s.Redact.Error(err)
	}
	s.redacted = append(append(secrets, live...), s.formValues()...)
	s.Redact = redact.New(s.redacted...)
	return nil
}

// liveValues reads every value at every location of the desired state.
func liveValues(ctx context.Context, root string, d reconcile.Desired) ([]string, error) {
	values, err := live.Files{Root: root}.ReadValues(ctx, live.AllLocations(d))
	if err != nil {
		return nil, err
	}
	return slices.Collect(maps.Values(values)), nil
}

func (s *Session) decrypt() (map[string]string, error) {
	ids, err := s.Options.Identities()
	if err != nil {
		return nil, err
	}
	data, err := s.Repo.ReadFile(s.Commit.Hash, s.Config.Values)
	if err != nil {
		return nil, fmt.Errorf("failed to read the values file named in %s:%d: %w", ConfigFile, s.Config.Line("values"), err)
	}
	return sopsio.DecryptValues(data, s.Config.Values, ids)
}

func (s *Session) loadProject(ctx context.Context) (*composeio.Project, error) {
	c := s.Config.Compose
	var opts []composeio.Option
	if c.ProjectName != "" {
		opts = append(opts, composeio.WithProjectName(c.ProjectName))
	}
	if len(c.Files) > 0 {
		opts = append(opts, composeio.WithFiles(c.Files...))
	}
	// The variables engine.Build asks the consumers of: their probe loads while the project does.
	opts = append(opts, composeio.WithProbe(engine.ProbeVars(s.Config)...))
	return composeio.Load(ctx, c.ProjectDir, opts...)
}

// Value is the decrypted value of one entry of the values file.
func (s *Session) Value(name string) (string, bool) {
	v, ok := s.values[name]
	return v, ok
}

// DockerHost is the one engine address both the API client and the Compose CLI use: the option, then
// $DOCKER_HOST, then the local socket.
func (s *Session) DockerHost() string {
	if s.Options.DockerHost != "" {
		return s.Options.DockerHost
	}
	return s.Options.Getenv("DOCKER_HOST")
}

// withJournal opens the journal for f only: the journal's lock is not held longer than f needs it.
func (s *Session) withJournal(f func(*journal.Journal) error) error {
	j, err := journal.Open(s.Options.StateDir)
	if err != nil {
		return err
	}
	defer j.Close()
	return f(j)
}

func newTxnID() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%x", time.Now().UTC().Format("20060102T150405Z"), b)
}
