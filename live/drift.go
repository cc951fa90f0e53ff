package live

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/rekeyhq/rekey/composeio"
	"github.com/rekeyhq/rekey/dockerio"
	"github.com/rekeyhq/rekey/reconcile"
)

// ContainerReader reads what a service's containers run. *dockerio.Engine implements it.
type ContainerReader interface {
	RunningConfigs(ctx context.Context, project, service string) ([]dockerio.RunConfig, error)
	MountedFile(ctx context.Context, id, target string) ([]byte, error)
}

// DriftScanner compares every place a secret lives with Git: its sources, the containers of its
// consumers (their environment, command and mounted files) and the journal's idea of what rekey last
// applied. Values are read, fingerprinted and dropped; nothing is logged.
type DriftScanner struct {
	FP         func(string) string
	Journal    RecordReader
	Containers ContainerReader
	Project    *composeio.Project
	Values     map[string]string // desired plaintext values, by secret
	// Vars names the env variable that carries each secret's current value ("" for file secrets).
	Vars map[string]string
	// Servers are asked whether Git's value of each secret with a credential server logs in; nil leaves
	// servers out of the scan. ServersErr, when the drivers could not be built, makes every server unknown.
	Servers    ServerFinder
	ServersErr error
	Verdicts   *ServerVerdicts // rate limit of the servers' logins; nil asks every scan
	// Forms reads derived locations (driftforms.go); nil when the desired state has none.
	Forms *Forms
	// NoConsumers leaves the consumers out (a Swarm stack: its tasks are not Compose containers, and
	// Swarm never gives a secret's data back), so they are not all reported unknown.
	NoConsumers bool
	// Swarm, when set, reads the consumers of a Swarm stack: its services' specs and tasks (SwarmDrift).
	Swarm SwarmConsumers

	mu    sync.Mutex
	uses  map[string]map[string]map[string]composeio.Template // var → service → field → template
	files map[string]*fileValues                              // sources read in this scan, each file once
}

// sources reads the secrets' files as the executor does: no symlink below the project directory.
func (s *DriftScanner) sources() Files {
	if s.Project == nil {
		return Files{}
	}
	return Files{Root: s.Project.Dir()}
}

// Scan returns the drift of every secret of d, sorted (see reconcile.SortDrift).
func (s *DriftScanner) Scan(ctx context.Context, d reconcile.Desired) ([]reconcile.Drift, error) {
	s.prime(ctx)
	s.files = map[string]*fileValues{}
	var out []reconcile.Drift
	for _, sec := range d.Secrets {
		in, err := s.observe(ctx, sec)
		if err != nil {
			return nil, err
		}
		if sec.Server != nil && (s.Servers != nil || s.ServersErr != nil) {
			in.Servers = append(in.Servers, s.askServer(ctx, sec))
		}
		out = append(out, reconcile.Classify(sec, in)...)
	}
	reconcile.SortDrift(out)
	return out, nil
}

// Stale returns the consumers of sec that run another value than their sources hold, for heal.
func (s *DriftScanner) Stale(ctx context.Context, sec reconcile.Secret) ([]string, error) {
	s.files = map[string]*fileValues{}
	in, err := s.observe(ctx, sec)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range reconcile.Classify(sec, in) {
		if d.State == reconcile.DriftStaleConsumer && !slices.Contains(out, d.Name) {
			out = append(out, d.Name)
		}
	}
	return out, nil
}

func (s *DriftScanner) observe(ctx context.Context, sec reconcile.Secret) (reconcile.DriftInput, error) {
	in := reconcile.DriftInput{Sources: map[reconcile.Location]string{}, SourceErr: map[reconcile.Location]string{}}
	source := ""
	for i, l := range sec.Current {
		fv, ok := s.files[l.Path]
		if !ok {
			fv = s.sources().readFile(l.Path)
			s.files[l.Path] = fv
		}
		v, err := fv.get(l.Key)
		if err != nil {
			in.SourceErr[l] = err.Error()
			continue
		}
		if l.Form != "" {
			if fp := s.derivedSource(sec, l, v); fp != "" {
				in.Sources[l] = fp
			}
			continue
		}
		if i == 0 {
			source = v
		}
		if v != "" {
			in.Sources[l] = s.FP(v)
		}
	}
	h, err := historyOf(s.Journal, sec.Name)
	if err != nil {
		return in, err
	}
	in.Applied, in.Txn = reconcile.LastApplied(h.Records), reconcile.Replay(h.Records)
	for _, c := range sec.Consumers {
		if c.Action == reconcile.NoRoll || (s.NoConsumers && s.Swarm == nil) {
			continue // a host file is one of the sources; Swarm's consumers are not scanned
		}
		lcs, err := s.consumerOf(ctx, sec, c, source)
		if err != nil {
			return in, err
		}
		in.Consumers = append(in.Consumers, lcs...)
	}
	return in, nil
}

// SwarmConsumers reads what the tasks of a Swarm service run of a secret (SwarmDrift).
type SwarmConsumers interface {
	Consumer(ctx context.Context, sec reconcile.Secret, c reconcile.Consumer, desired string) ([]reconcile.LiveConsumer, error)
}

// consumerOf reads a consumer: a Swarm service's tasks, or a Compose service's containers.
func (s *DriftScanner) consumerOf(ctx context.Context, sec reconcile.Secret, c reconcile.Consumer, source string) ([]reconcile.LiveConsumer, error) {
	if s.Swarm != nil {
		return s.Swarm.Consumer(ctx, sec, c, s.Values[sec.Name])
	}
	return s.consumer(ctx, sec, c, source)
}

// consumer reads every running container of one service.
func (s *DriftScanner) consumer(ctx context.Context, sec reconcile.Secret, c reconcile.Consumer, source string) ([]reconcile.LiveConsumer, error) {
	// Stopped containers are left out: they run nothing, and pick up their sources when started.
	rcs, err := s.Containers.RunningConfigs(ctx, s.Project.Name(), c.Name)
	if err != nil {
		return nil, err
	}
	var out []reconcile.LiveConsumer
	for _, rc := range rcs {
		lc := reconcile.LiveConsumer{Consumer: c.Name, Container: shortID(rc.ID), Started: rc.StartedAt}
		if err := s.read(ctx, sec, c, rc, source, &lc); err != nil {
			lc = reconcile.LiveConsumer{Consumer: c.Name, Container: lc.Container, Err: err.Error()}
		}
		out = append(out, lc)
	}
	if len(out) == 0 {
		out = append(out, reconcile.LiveConsumer{Consumer: c.Name, Err: "no running container"})
	}
	return out, nil
}

// read fills lc's fingerprints: for an env secret from the container's environment, command and
// entrypoint; for a file secret from the file as the container sees it.
func (s *DriftScanner) read(ctx context.Context, sec reconcile.Secret, c reconcile.Consumer, rc dockerio.RunConfig, source string, lc *reconcile.LiveConsumer) error {
	desired := s.Values[sec.Name]
	if ok, err := s.derivedConsumer(ctx, sec, c, rc, lc); ok || err != nil {
		return err
	}
	if v := s.Vars[sec.Name]; v != "" {
		uses, err := s.usesOf(ctx, v)
		if err != nil {
			return err
		}
		fields := uses[c.Name]
		if len(fields) == 0 {
			return fmt.Errorf("rekey cannot see how service %s reads %s (a declared consumer?)", c.Name, v)
		}
		live, want, src := s.envFPs(fields, rc, desired, source)
		lc.FP, lc.DesiredFP, lc.SourceFP = live, want, src
		return nil
	}
	target := fileTarget(c)
	if target == "" {
		return fmt.Errorf("rekey cannot see how service %s reads the file (a declared consumer?)", c.Name)
	}
	data, err := s.containerFile(ctx, rc.ID, rc.Pid, target)
	if err != nil {
		return err
	}
	if s.derivedFile(sec, data, lc) {
		return nil
	}
	lc.FP, lc.DesiredFP, lc.SourceFP = s.FP(string(data)), sec.DesiredFP, s.FP(source)
	return nil
}

// envFPs fingerprints the fields that carry the secret, as the container runs them, as Git wants them and
// as the source holds them now.
func (s *DriftScanner) envFPs(fields map[string]composeio.Template, rc dockerio.RunConfig, desired, source string) (live, want, src string) {
	var l, w, so []string
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		var have string
		switch k {
		case composeio.FieldCommand:
			have = strings.Join(rc.Cmd, "\x00")
		case composeio.FieldEntrypoint:
			have = strings.Join(rc.Entrypoint, "\x00")
		default:
			have = rc.Env[k]
		}
		t := fields[k]
		l = append(l, k+"="+have)
		w = append(w, k+"="+t.Expand(desired))
		so = append(so, k+"="+t.Expand(source))
	}
	join := func(parts []string) string { return s.FP(strings.Join(parts, "\x00")) }
	return join(l), join(w), join(so)
}

// containerFile reads target as the container sees it: through /proc/PID/root when rekey runs on the
// Docker host (a single-file bind mount keeps the old inode after a rename, which only the container's own
// view shows), else through the engine.
func (s *DriftScanner) containerFile(ctx context.Context, id string, pid int, target string) ([]byte, error) {
	if pid > 0 {
		data, err := dockerio.ReadProcFile(pid, id, target)
		if !errors.Is(err, dockerio.ErrNoProcView) {
			return data, err
		}
	}
	return s.Containers.MountedFile(ctx, id, target)
}

// prime probes every variable in one load of the project; variables it cannot settle are probed alone
// by usesOf, which reports their errors per consumer.
func (s *DriftScanner) prime(ctx context.Context) {
	if s.Project == nil {
		return // no compose project: nothing reads variables
	}
	vars := slices.Collect(maps.Values(s.Vars))
	all, err := s.Project.UsesOfAll(ctx, slices.DeleteFunc(vars, func(v string) bool { return v == "" }))
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.uses = all
}

func (s *DriftScanner) usesOf(ctx context.Context, v string) (map[string]map[string]composeio.Template, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.uses[v]; ok {
		return u, nil
	}
	u, err := s.Project.UsesOf(ctx, v)
	if err != nil {
		return nil, err
	}
	if s.uses == nil {
		s.uses = map[string]map[string]map[string]composeio.Template{}
	}
	s.uses[v] = u
	return u, nil
}

// fileTarget is where a file consumer sees the secret, from how discovery found it ("secret:/run/…").
func fileTarget(c reconcile.Consumer) string {
	for _, via := range c.Via {
		kind, target, ok := strings.Cut(via, ":")
		if ok && strings.HasPrefix(target, "/") && (kind == composeio.KindSecret || kind == composeio.KindConfig ||
			kind == composeio.KindBindFile || kind == composeio.KindBindDir) {
			return target
		}
	}
	return ""
}

func shortID(id string) string { return id[:min(12, len(id))] }
