package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/rekeyhq/rekey/journal"
)

// B6's year projection: 7,693 iterations of the soak's mix, 10,000 rotated secrets (about 240,000
// records), written with journal.WriteSyntheticHistory as a year of them left the journal in the layout of
// earlier versions, into a second state dir of a demo stack. The first `rekey apply` on it indexes,
// prunes and compacts it (timed). Then, alternating each run with the same on the stack's fresh state dir
// (the baseline: the same stack and repository, no history): `rekey status`, `rekey history`, and an
// agent's RSS once its first run is over.
const yearIterations = 7693

func runB6Year(root, bin string, runs int) error {
	s, fresh, err := appliedStack(root, bin)
	if s != nil {
		defer s.down()
	}
	if err != nil {
		return err
	}
	year := slices.Clone(fresh)
	year[3] = filepath.Join(filepath.Dir(s.dir), "state-year")
	n, err := journal.WriteSyntheticHistory(year[3], demoMix, yearIterations, time.Now())
	if err != nil {
		return err
	}
	db := filepath.Join(year[3], "journal.db")
	written := fileSize(db)
	start := time.Now()
	if _, err := run(root, bin, append([]string{"apply", "--quiet"}, year...)...); err != nil {
		return fmt.Errorf("first apply on the year's journal: %w", err)
	}
	fmt.Printf("B6 year: %d records written (journal.db %.1f MiB); the first apply on it (index, retention, compaction) took %s; journal.db now %.0f KiB\n",
		n, float64(written)/(1<<20), round(time.Since(start)), float64(fileSize(db))/1024)
	type side struct {
		name                       string
		flags                      []string
		status, history            []time.Duration
		statusRSS, agent, agentHWM []int64
	}
	sides := []*side{{name: "fresh state dir", flags: fresh}, {name: "a year of history", flags: year}}
	for i := range runs {
		for _, sd := range alternate(i, sides) {
			st, rss, err := timed(1, bin, append([]string{"status"}, sd.flags...)...)
			if err != nil {
				return err
			}
			h, _, err := timed(1, bin, append([]string{"history"}, sd.flags...)...)
			if err != nil {
				return err
			}
			a, hwm, err := agentFootprint(bin, filepath.Dir(s.dir), sd.flags)
			if err != nil {
				return err
			}
			sd.status, sd.statusRSS, sd.history = append(sd.status, st...), append(sd.statusRSS, rss...), append(sd.history, h...)
			sd.agent, sd.agentHWM = append(sd.agent, a), append(sd.agentHWM, hwm)
			fmt.Printf("run %d  %-18s status %s (%.1f MiB)  history %s  agent rss after its first run %.1f MiB (peak %.1f MiB)\n",
				i+1, sd.name, round(st[0]), float64(rss[0])/1024, round(h[0]), float64(a)/1024, float64(hwm)/1024)
		}
	}
	fmt.Println()
	fmt.Println("B6 year projection (10,000 rotated secrets) against a fresh state dir of the same stack")
	for _, sd := range sides {
		report("rekey status, "+sd.name, sd.status)
		reportMiB("rekey status peak RSS, "+sd.name, sd.statusRSS)
		report("rekey history, "+sd.name, sd.history)
		reportMiB("agent RSS after its first run, "+sd.name, sd.agent)
		reportMiB("agent peak RSS by then, "+sd.name, sd.agentHWM)
	}
	ratio("status, year / fresh", median(sides[1].status), median(sides[0].status))
	return nil
}

// agentFootprint starts an agent on the state dir of flags, waits for its first run to end, and returns
// its RSS and peak RSS (KiB).
func agentFootprint(bin, dir string, flags []string) (rss, hwm int64, err error) {
	a, err := newSoakAgent(bin, dir, flags, time.Hour)
	if err != nil {
		return 0, 0, err
	}
	defer a.stop()
	if err := a.waitReady(2 * time.Minute); err != nil {
		return 0, 0, fmt.Errorf("%w\n%s", err, a.logTail(20))
	}
	return memory(a.cmd.Process.Pid)
}
