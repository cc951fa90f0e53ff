package main

import (
	"fmt"
	"time"
)

// b1Side is one way of getting the new session key into both consumers.
type b1Side struct {
	name    string
	short   string                                   // in the ratios
	measure func() (b1End, string, time.Time, error) // the ends, the agent's log, when the clock started
	ends    []b1End
	phases  *phaseTable
}

// runB1 is B1, commit → old value revoked (see the package comment). It needs Docker. rekey is measured
// with each roll strategy (its choice, start-first behind the demo's proxy, and stop-first declared),
// against the hand-edit floor, in rotating order; before, when set, is another build of rekey measured
// start-first as one more side. The phases of each rekey side (the agent's steps and, with REKEY_TRACE,
// the phases of each roll) are reported by their median duration and end.
func runB1(root, bin, before string, runs int) {
	if b1ObserverMode != observerHTTP && b1ObserverMode != observerExec {
		fail(fmt.Errorf("-b1-observer: unknown observer %q (want %s or %s)", b1ObserverMode, observerHTTP, observerExec))
	}
	floor := &b1Side{name: "floor (edit .env + compose up -d --wait --no-deps)", short: "floor", measure: func() (b1End, string, time.Time, error) {
		end, err := measureFloor(root)
		return end, "", time.Time{}, err
	}}
	sides := []*b1Side{floor,
		rekeySide("rekey start-first (commit → staged, rolled, verified, previous dropped)", "start-first", bin, root, ""),
		rekeySide("rekey stop-first (the same, strategy: stop-first declared)", "stop-first", bin, root, "stop-first")}
	if before != "" {
		sides = append(sides, rekeySide("rekey start-first, -before-rev build", "before, start-first", before, root, ""))
	}
	for i := 0; i < runs; i++ {
		for _, s := range alternate(i, sides) {
			end, log, start, err := s.measure()
			if err != nil {
				fail(fmt.Errorf("b1 %s: %w", s.name, err))
			}
			fmt.Printf("run %d  %-70s %s  (done %s, held %s)\n", i+1, s.name, end.clock.Round(10*time.Millisecond),
				end.done.Round(10*time.Millisecond), end.held.Round(10*time.Millisecond))
			s.ends = append(s.ends, end)
			if s.phases != nil {
				s.phases.add(log, start)
			}
		}
	}
	fmt.Println()
	fmt.Printf("B1 commit → old value revoked (2 consumers; observer %s)\n", b1ObserverMode)
	for _, s := range sides {
		report(s.name, s.clocks())
	}
	for _, s := range sides[1:] {
		ratio(s.short+" / floor", median(s.clocks()), median(floor.clocks()))
	}
	fmt.Println("  medians from the clock's start: clock = its end; done = the tool said done; held = the end state seen (http: the first look after done where it holds)")
	for _, s := range sides {
		med := func(f func(b1End) time.Duration) time.Duration { return round(median(s.each(f))) }
		fmt.Printf("  %-22s clock %8s  done %8s  held %8s\n", s.short,
			med(func(e b1End) time.Duration { return e.clock }), med(func(e b1End) time.Duration { return e.done }),
			med(func(e b1End) time.Duration { return e.held }))
	}
	for _, s := range sides[1:] {
		if !s.phases.empty() {
			fmt.Printf("\nphases of %s (median over %d runs; ends from the clock's start)\n", s.name, len(s.ends))
			s.phases.print()
		}
	}
}

func (s *b1Side) clocks() []time.Duration {
	return s.each(func(e b1End) time.Duration { return e.clock })
}

// each is one of the ends of every run.
func (s *b1Side) each(f func(b1End) time.Duration) []time.Duration {
	out := make([]time.Duration, len(s.ends))
	for i, e := range s.ends {
		out[i] = f(e)
	}
	return out
}

func rekeySide(name, short, bin, root, strategy string) *b1Side {
	return &b1Side{name: name, short: short, phases: &phaseTable{}, measure: func() (b1End, string, time.Time, error) {
		return measureRekey(root, bin, strategy)
	}}
}
