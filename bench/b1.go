package main

import (
	"fmt"
	"time"
)

// b1Side is one way of getting the new session key into both consumers.
type b1Side struct {
	name    string
	short   string                                           // in the ratios
	measure func() (time.Duration, string, time.Time, error) // time, the agent's log, when the clock started (the commit)
	times   []time.Duration
	phases  *phaseTable
}

// runB1 is B1, commit → old value revoked (see the package comment). It needs Docker. rekey is measured
// with each roll strategy (its choice, start-first behind the demo's proxy, and stop-first declared),
// against the hand-edit floor, in rotating order; before, when set, is another build of rekey measured
// start-first as one more side. The phases of each rekey side (the agent's steps and, with REKEY_TRACE,
// the phases of each roll) are reported by their median duration and end.
func runB1(root, bin, before string, runs int) {
	floor := &b1Side{name: "floor (edit .env + compose up -d --wait --no-deps)", short: "floor", measure: func() (time.Duration, string, time.Time, error) {
		d, err := measureFloor(root)
		return d, "", time.Time{}, err
	}}
	sides := []*b1Side{floor,
		rekeySide("rekey start-first (webhook → staged, rolled, verified, previous dropped)", "start-first", bin, root, ""),
		rekeySide("rekey stop-first (the same, strategy: stop-first declared)", "stop-first", bin, root, "stop-first")}
	if before != "" {
		sides = append(sides, rekeySide("rekey start-first, -before-rev build", "before, start-first", before, root, ""))
	}
	for i := 0; i < runs; i++ {
		for _, s := range alternate(i, sides) {
			d, log, start, err := s.measure()
			if err != nil {
				fail(fmt.Errorf("b1 %s: %w", s.name, err))
			}
			fmt.Printf("run %d  %-70s %s\n", i+1, s.name, d.Round(10*time.Millisecond))
			s.times = append(s.times, d)
			if s.phases != nil {
				s.phases.add(log, start)
			}
		}
	}
	fmt.Println()
	fmt.Println("B1 commit → old value revoked (2 consumers)")
	for _, s := range sides {
		report(s.name, s.times)
	}
	for _, s := range sides[1:] {
		ratio(s.short+" / floor", median(s.times), median(floor.times))
	}
	for _, s := range sides[1:] {
		if !s.phases.empty() {
			fmt.Printf("\nphases of %s (median over %d runs; ends from the commit)\n", s.name, len(s.times))
			s.phases.print()
		}
	}
}

func rekeySide(name, short, bin, root, strategy string) *b1Side {
	return &b1Side{name: name, short: short, phases: &phaseTable{}, measure: func() (time.Duration, string, time.Time, error) {
		return measureRekey(root, bin, strategy)
	}}
}
