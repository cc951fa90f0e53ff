// Command bench measures rekey against baselines taken in the same run (the machines are noisy):
//
//	go run ./bench [-runs 5] [-only b1]
//
// B1, commit → old value revoked: a new session key is committed to the demo stack's desired-state
// repository and announced by a signed push webhook to a running `rekey agent`; the clock stops when both
// consumers run the new key and the app no longer accepts the old one. The floor is what an operator does
// by hand without any safety: edit .env, then `docker compose up -d --wait --no-deps app worker`.
//
// It needs what scripts/setup.sh and scripts/build-images.sh prepare. Results go to stdout; the figures in
// docs/benchmarks.md come from it.
package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"time"
)

func main() {
	runs := flag.Int("runs", 5, "repetitions of each measurement")
	flag.Parse()
	root, err := repoRoot()
	if err != nil {
		fail(err)
	}
	bin, err := buildRekey(root)
	if err != nil {
		fail(err)
	}
	var rekeyTimes, floorTimes []time.Duration
	for i := 0; i < *runs; i++ {
		// Alternate the order so that drift in the machine's load hits both sides alike.
		first, second := measureRekey, measureFloor
		if i%2 == 1 {
			first, second = measureFloor, measureRekey
		}
		for _, m := range []func(string, string) (string, time.Duration, error){first, second} {
			name, d, err := m(root, bin)
			if err != nil {
				fail(fmt.Errorf("%s: %w", name, err))
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
	fmt.Printf("  ratio of medians: %.2f×\n", float64(median(rekeyTimes))/float64(median(floorTimes)))
}

func report(what string, ds []time.Duration) {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	fmt.Printf("  %-62s median %6s  min %6s  max %6s  (n=%d)\n", what, median(ds).Round(10*time.Millisecond),
		s[0].Round(10*time.Millisecond), s[len(s)-1].Round(10*time.Millisecond), len(s))
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}
