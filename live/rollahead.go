package live

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"time"

	"github.com/rekeyhq/rekey/dockerio"
)

// A start-first roll must know the hash Compose gives the service's configuration before it knows that
// the running containers are stale, and `compose config --hash` is a Compose run (50–60 ms here) on the
// roll's critical path, once per phase of a transaction. When every running container of the service
// was created with a value rekey has just replaced in the sources, they are stale whatever the hash: the
// roll then starts the new container while Compose computes the hash (the container's start takes several
// times longer), and checks the hash before it waits for the new container's health. The hash still
// rules: when it says that the roll would not have started this container after all, the container is
// removed before anything waited for it and the roll goes on from the hash alone; when Compose failed to
// compute it, the container is removed and the roll fails, as it would have without the early start.

// errStartNotNeeded: the hash says the containers a start was made ahead for were not stale after all.
var errStartNotNeeded = errors.New("the configuration hash does not call for a new container")

// target is the config hash the roll converges to. When r.ahead expects the running containers to be
// stale, the first new container is started while the hash is computed: ahead is its ID (healthy), or ""
// when none was started or the hash did not call for it (it was removed again).
func (r startFirst) target(ctx context.Context, service string, spec StartFirst, all []dockerio.Replica) (target, ahead string, err error) {
	expect := r.ahead != nil && r.ahead(ctx, service, running(all))
	began := time.Now()
	if !expect {
		target, err = r.compose.ConfigHash(ctx, service)
		r.trace.since(service, "config-hash", began)
		return target, "", err
	}
	type hashed struct {
		hash string
		err  error
		took time.Duration
	}
	done := make(chan hashed, 1) // buffered: a start that fails first does not wait for the hash
	go func() {
		h, err := r.compose.ConfigHash(ctx, service)
		done <- hashed{h, err, time.Since(began)}
	}()
	var got hashed
	confirmed := false
	confirm := func() error {
		confirmed = true
		got = <-done
		if r.trace != nil {
			r.trace(service, "config-hash", began, got.took)
		}
		switch {
		case got.err != nil:
			return got.err
		case !firstStart(all, got.hash, spec):
			return errStartNotNeeded
		}
		return nil
	}
	id, err := r.startOne(ctx, service, len(all)+1, all, confirm)
	switch {
	case err == errStartNotNeeded: // removed again (a failed removal comes joined, and fails the roll)
		return got.hash, "", nil
	case err != nil && !confirmed:
		// The start failed before the hash was looked at. If the hash says the roll would not have made
		// it, its failure is not the roll's: remove whatever it left, and go on from the hash.
		if got = <-done; got.err == nil && !firstStart(all, got.hash, spec) {
			if rerr := r.removeAdded(ctx, service, all); rerr != nil {
				return "", "", errors.Join(err, rerr)
			}
			return got.hash, "", nil
		}
	}
	return got.hash, id, err
}

// removeAdded removes the containers of service that are not in before, even when ctx is done.
func (r startFirst) removeAdded(ctx context.Context, service string, before []dockerio.Replica) error {
	cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	after, err := r.engine.Replicas(cleanup, r.project, service)
	if err != nil {
		return err
	}
	for _, c := range newReplicas(before, after) {
		if err := r.engine.Remove(cleanup, c.ID); err != nil {
			return err
		}
	}
	return nil
}

func running(all []dockerio.Replica) []dockerio.Replica {
	var out []dockerio.Replica
	for _, c := range all {
		if c.Running {
			out = append(out, c)
		}
	}
	return out
}

// replacedValues remembers, as digests (never the values), the values writes of this run replaced. A
// container holding one of them as a variable was created before the write: stale for sure. A write that
// puts a replaced value back (a rollback restoring value by value) or a whole file restored from a
// snapshot makes old containers possibly current again: everything is forgotten.
type replacedValues struct {
	mu  sync.Mutex
	was map[[sha256.Size]byte]bool
}

// add records that a write replaced old with value. An empty old value says nothing: many variables are
// empty.
func (v *replacedValues) add(old, value string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if value != "" && v.was[sha256.Sum256([]byte(value))] {
		v.was = nil // put back
		return
	}
	if old == "" {
		return
	}
	if v.was == nil {
		v.was = map[[sha256.Size]byte]bool{}
	}
	v.was[sha256.Sum256([]byte(old))] = true
}

// reset forgets everything: a source was restored whole.
func (v *replacedValues) reset() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.was = nil
}

// heldBy reports whether a container's environment holds a replaced value.
func (v *replacedValues) heldBy(env map[string]string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, value := range env {
		if value != "" && v.was[sha256.Sum256([]byte(value))] {
			return true
		}
	}
	return false
}

func (v *replacedValues) empty() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.was) == 0
}

// envReader reads a container's configured environment (dockerio.Engine).
type envReader interface {
	Env(ctx context.Context, id string) (map[string]string, error)
}

// stale reports whether every running container holds a replaced value (none running: no).
func (v *replacedValues) stale(ctx context.Context, e envReader, running []dockerio.Replica) bool {
	if len(running) == 0 || v.empty() {
		return false
	}
	for _, c := range running {
		env, err := e.Env(ctx, c.ID)
		if err != nil || !v.heldBy(env) {
			return false
		}
	}
	return true
}

// StartAhead lets the start-first rolls of s start their first new container while Compose computes the
// configuration's hash, when every running container of the service holds a value replaced since. It
// returns what the stack's sources must call: replaced after a write that replaced a value (Files.Replaced),
// restored after a file was put back from a snapshot (Files.Restored).
func (s *Stack) StartAhead() (replaced func(old, value string), restored func()) {
	if s.replaced == nil {
		s.replaced = &replacedValues{}
	}
	return s.replaced.add, s.replaced.reset
}

// staleAhead reports whether every running container of service holds a value replaced since it was
// created, when the roll would otherwise wait for a Compose run to tell (the hash is not already known).
func (s *Stack) staleAhead(ctx context.Context, service string, running []dockerio.Replica) bool {
	if s.replaced == nil || s.hashes.known(service) {
		return false
	}
	return s.replaced.stale(ctx, s.Engine, running)
}
