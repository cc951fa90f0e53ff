package composeio

import (
	"context"
	"slices"
	"sync"

	"github.com/compose-spec/compose-go/v2/types"
)

// WithProbe names the variables ConsumersOfVars will be asked about, so that Load runs their combined probe
// (a second compose-go load, with a canary for each) on another goroutine while it loads the project
// itself: the two loads are most of the time of a plan, and they do not depend on each other. The probe is
// used only by a ConsumersOfVars that asks about exactly these names and compares with the project Load
// returned, the files Load read being unchanged (see withBase): Load waits for it before it records the
// state of those files, so it read what the base read. Otherwise it is dropped, and the answers are those
// of a probe loaded when asked.
func WithProbe(names ...string) Option {
	return func(o *options) { o.probe = slices.Clone(names) }
}

// prefetched is the combined probe Load ran for WithProbe.
type prefetched struct {
	names    []string          // sorted, without duplicates
	byCanary map[string]string // canary → variable
	alt      *types.Project
	err      error
}

// startProbe starts the combined probe of the WithProbe names; wait returns once it has finished. With no
// names, or a name that is no variable name (ConsumersOfVars refuses it), it starts nothing.
func (p *Project) startProbe(ctx context.Context) (wait func()) {
	names := slices.Compact(slices.Sorted(slices.Values(p.opts.probe)))
	if len(names) == 0 {
		return func() {}
	}
	for _, n := range names {
		if checkVarName(n) != nil {
			return func() {}
		}
	}
	overrides, byCanary, err := canaries(names)
	if err != nil {
		return func() {}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		alt, err := p.loadProbe(ctx, overrides)
		p.pre = &prefetched{names: names, byCanary: byCanary, alt: alt, err: err}
	}()
	return wg.Wait
}

// takeProbe hands out the probe Load ran, once, when it is the probe of names against base.
func (p *Project) takeProbe(base *types.Project, names []string) *prefetched {
	p.preMu.Lock()
	defer p.preMu.Unlock()
	pre := p.pre
	if pre == nil || base != p.p || !slices.Equal(pre.names, names) {
		return nil
	}
	p.pre = nil
	return pre
}
