package live

import (
	"context"
	"slices"
	"sync"
)

// hashLister computes the config hashes of several services in one Compose run.
type hashLister interface {
	ConfigHashes(ctx context.Context, services ...string) (map[string]string, error)
}

// configHashes keeps the config hashes of a stack's start-first services between two writes to its
// sources. A phase of a transaction writes the sources once, then rolls its consumers one by one: their
// hashes are all known from the one `compose config --hash a,b` of the first roll, and the next ones
// skip a Compose run (70–90 ms each). Any write to a source forgets them (forget, wired to Files.Written
// by whoever builds both), so a hash is never older than the last write.
type configHashes struct {
	mu     sync.Mutex
	gen    uint64            // writes seen
	hashes map[string]string // computed after the last write; nil when none is
}

// forget drops the hashes: a source was (or is being) written.
func (h *configHashes) forget() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gen++
	h.hashes = nil
}

// hash is service's config hash: kept, else computed with every service of all in one Compose run.
func (h *configHashes) hash(ctx context.Context, c hashLister, service string, all []string) (string, error) {
	h.mu.Lock()
	v, ok := h.hashes[service]
	gen := h.gen
	h.mu.Unlock()
	if ok {
		return v, nil
	}
	names := []string{service}
	for _, s := range all {
		if !slices.Contains(names, s) {
			names = append(names, s)
		}
	}
	got, err := c.ConfigHashes(ctx, names...)
	keep := err == nil
	if err != nil && len(names) > 1 {
		// Another service's trouble (a profile not enabled, a name compose refuses) is not this roll's:
		// ask for this one alone, and keep nothing.
		got, err = c.ConfigHashes(ctx, service)
	}
	if err != nil {
		return "", err
	}
	h.mu.Lock()
	if keep && h.gen == gen { // no write while compose ran: the hashes are of the sources as they are
		h.hashes = got
	}
	h.mu.Unlock()
	return got[service], nil
}

// cachedHashes is the Compose CLI of a start-first roll with ConfigHash answered from configHashes.
type cachedHashes struct {
	replicaCompose
	lister   hashLister
	cache    *configHashes
	services []string // the stack's start-first services, computed together
}

func (c cachedHashes) ConfigHash(ctx context.Context, service string) (string, error) {
	return c.cache.hash(ctx, c.lister, service, c.services)
}

// ShareConfigHashes has the start-first rolls of s share their config hashes (one Compose run for
// all the start-first services) until a source is written, and returns the function to call after
// every write to a source (Files.Written). Without it, each start-first roll computes its own hash.
func (s *Stack) ShareConfigHashes() (sourcesWritten func()) {
	if s.hashes == nil {
		s.hashes = &configHashes{}
	}
	return s.hashes.forget
}

// rollCompose is the Compose CLI the start-first rolls of s use.
func (s *Stack) rollCompose() replicaCompose {
	if s.hashes == nil {
		return s.Compose
	}
	names := make([]string, 0, len(s.StartFirst))
	for name := range s.StartFirst {
		names = append(names, name)
	}
	slices.Sort(names)
	return cachedHashes{replicaCompose: s.Compose, lister: s.Compose, cache: s.hashes, services: names}
}
