package main

import (
	"fmt"
	"time"
)

// runB1 is B1, commit → old value revoked (see the package comment). It needs Docker.
func runB1(root, bin string, runs int) {
	var rekeyTimes, floorTimes []time.Duration
	for i := 0; i < runs; i++ {
		for _, m := range alternate(i, []func(string, string) (string, time.Duration, error){measureRekey, measureFloor}) {
			name, d, err := m(root, bin)
			if err != nil {
				fail(fmt.Errorf("b1 %s: %w", name, err))
			}
			fmt.Printf("run %d  %-6s %s\n", i+1, name, d.Round(10*time.Millisecond))
			if name == "rekey" {
				rekeyTimes = append(rekeyTimes, d)
			} else {
				floorTimes = append(floorTimes, d)
			}
		}
	}
	fmt.Println()
	fmt.Println("B1 commit → old value revoked (2 consumers)")
	report("rekey (webhook → staged, rolled, verified, previous dropped)", rekeyTimes)
	report("floor (edit .env + compose up -d --wait --no-deps)", floorTimes)
	ratio("rekey / floor", median(rekeyTimes), median(floorTimes))
}
