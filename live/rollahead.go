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
// rules: when it says that the roll would not have started this container after all, or Compose failed,
// the container is removed before anything waited for it, and the roll goes on from the hash alone.

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
	confirm := func() error {
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
	if err == errStartNotNeeded { // removed again (a failed removal comes joined, and fails the roll)
		return got.hash, "", nil
	}
	return got.hash, id, err
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

// replacedValues remembers the values rekey replaced in the stack's sources during a run, as digests
// (never the values), until a source is put back whole from a snapshot: after that, a running container
// holding one may be current again.
type replacedValues struct {
	mu      sync.Mutex
	digests map[[sha256.Size]byte]bool
}

// add records a value that a write replaced. An empty one says nothing: many variables are empty.
func (v *replacedValues) add(old string) {
	if old == "" {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.digests == nil {
		v.digests = map[[sha256.Size]byte]bool{}
	}
	v.digests[sha256.Sum256([]byte(old))] = true
}

// reset forgets every value: a source was restored.
func (v *replacedValues) reset() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.digests = nil
}

// heldBy reports whether a container's environment holds a replaced value as one of its variables.
func (v *replacedValues) heldBy(env map[string]string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, value := range env {
		if value != "" && v.digests[sha256.Sum256([]byte(value))] {
			return true
		}
	}
	return false
}

// StartAhead lets the start-first rolls of s start their first new container while Compose computes the
// configuration's hash, when every running container of the service holds a value replaced since. It
// returns what the stack's sources must call: replaced after a write that replaced a value (Files.Replaced),
// restored after a file was put back from a snapshot (Files.Restored).
func (s *Stack) StartAhead() (replaced func(old string), restored func()) {
	if s.replaced == nil {
		s.replaced = &replacedValues{}
	}
	return s.replaced.add, s.replaced.reset
}

// staleAhead reports whether every running container of service holds a value replaced since it was
// created, when the roll would otherwise wait for a Compose run to tell (the hash is not already known).
func (s *Stack) staleAhead(ctx context.Context, service string, running []dockerio.Replica) bool {
	if s.replaced == nil || len(running) == 0 || s.hashes.known(service) {
		return false
	}
	for _, c := range running {
		env, err := s.Engine.Env(ctx, c.ID)
		if err != nil || !s.replaced.heldBy(env) {
			return false
		}
	}
	return true
}
