package composeio

import (
	"fmt"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// dependencies returns the services svc depends on: depends_on (into which compose-go also folds links,
// `network_mode`/`ipc`/`pid` `service:X` and volumes_from), plus those references read directly in case
// normalisation was skipped. Dependencies on services that are not enabled are ignored. Sorted.
func (p *Project) dependencies(svc types.ServiceConfig) []string {
	deps := map[string]bool{}
	addIf := func(name string) {
		if _, ok := p.p.Services[name]; ok {
			deps[name] = true
		}
	}
	for name := range svc.DependsOn {
		addIf(name)
	}
	for _, ns := range []string{svc.NetworkMode, svc.Ipc, svc.Pid} {
		if name, ok := strings.CutPrefix(ns, types.ServicePrefix); ok {
			addIf(name)
		}
	}
	for _, vf := range svc.VolumesFrom {
		if strings.HasPrefix(vf, types.ContainerPrefix) {
			continue
		}
		name, _, _ := strings.Cut(vf, ":")
		addIf(name)
	}
	for _, l := range svc.Links {
		name, _, _ := strings.Cut(l, ":")
		addIf(name)
	}
	out := make([]string, 0, len(deps))
	for d := range deps {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// Order returns services sorted so that every service comes after the services it depends on, directly or
// through services not in the list; services with no ordering constraint between them are sorted by name.
// Duplicates are dropped. Unknown services and dependency cycles are errors.
func (p *Project) Order(services []string) ([]string, error) {
	want := map[string]bool{}
	for _, s := range services {
		if !p.HasService(s) {
			return nil, fmt.Errorf("unknown service %q in project %s", s, p.Name())
		}
		want[s] = true
	}
	names := make([]string, 0, len(want))
	for s := range want {
		names = append(names, s)
	}
	slices.Sort(names)

	graph := p.dependencyGraph()
	if err := findCycle(graph, names); err != nil {
		return nil, err
	}

	// after[s] = the wanted services s (transitively) depends on.
	after := map[string]map[string]bool{}
	for _, s := range names {
		after[s] = map[string]bool{}
		seen := map[string]bool{s: true}
		stack := slices.Clone(graph[s])
		for len(stack) > 0 {
			d := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[d] {
				continue
			}
			seen[d] = true
			if want[d] {
				after[s][d] = true
			}
			stack = append(stack, graph[d]...)
		}
	}

	// Kahn's algorithm, always taking the smallest name that is ready.
	out := make([]string, 0, len(names))
	done := map[string]bool{}
	for len(out) < len(names) {
		next := ""
		for _, s := range names {
			if done[s] {
				continue
			}
			ready := true
			for d := range after[s] {
				if !done[d] {
					ready = false
					break
				}
			}
			if ready {
				next = s
				break
			}
		}
		if next == "" { // unreachable: cycles are found above
			return nil, fmt.Errorf("cyclic depends_on between %s", strings.Join(names, ", "))
		}
		done[next] = true
		out = append(out, next)
	}
	return out, nil
}

// dependencyGraph returns every enabled service's dependencies, built on the first call: the engine orders
// the consumers of each secret, and building it for each of a thousand secrets took longer than all of
// them together. The project does not change after Load, so neither does the graph; callers must not
// modify it.
func (p *Project) dependencyGraph() map[string][]string {
	p.graphOnce.Do(func() {
		p.graph = make(map[string][]string, len(p.p.Services))
		for name, svc := range p.p.Services {
			p.graph[name] = p.dependencies(svc)
		}
	})
	return p.graph
}

// DependsOrder returns every enabled service, dependencies first (see Order).
func (p *Project) DependsOrder() ([]string, error) {
	return p.Order(p.Services())
}

// findCycle searches the graph from roots (in order, children by name) and reports the first cycle found
// as "cyclic depends_on: a -> b -> a".
func findCycle(graph map[string][]string, roots []string) error {
	const (
		visiting = 1
		finished = 2
	)
	state := map[string]int{}
	var stack []string
	var visit func(string) error
	visit = func(n string) error {
		switch state[n] {
		case finished:
			return nil
		case visiting:
			i := slices.Index(stack, n)
			cycle := append(slices.Clone(stack[i:]), n)
			return fmt.Errorf("cyclic depends_on: %s", strings.Join(cycle, " -> "))
		}
		state[n] = visiting
		stack = append(stack, n)
		for _, d := range graph[n] {
			if err := visit(d); err != nil {
				return err
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = finished
		return nil
	}
	for _, r := range roots {
		if err := visit(r); err != nil {
			return err
		}
	}
	return nil
}
