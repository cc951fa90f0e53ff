package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

func reportB6(iters []b6Iter, rotations int, total b2Result, before, after latency) {
	fmt.Println()
	retention := "its default"
	if b6Retention > 0 {
		retention = fmt.Sprint(b6Retention)
	}
	fmt.Printf("B6 soak: %d of %d iterations, agent --interval %s, --journal-retention %s, %d requests, %d failed in all\n",
		len(iters), rotations, b6Interval, retention, total.requests, total.failed)
	clean := map[string][]time.Duration{}
	failed := map[string][]int64{}
	gaps := map[string][]time.Duration{}
	var kinds []string
	for _, it := range iters {
		if it.fault != "" || !it.converged {
			continue
		}
		if _, ok := clean[it.kind]; !ok {
			kinds = append(kinds, it.kind)
		}
		clean[it.kind] = append(clean[it.kind], it.took)
		failed[it.kind] = append(failed[it.kind], it.failed)
		gaps[it.kind] = append(gaps[it.kind], it.gap)
	}
	for _, kind := range kinds {
		med, lo, hi := summary(clean[kind])
		fm, fl, fh := summary(failed[kind])
		var sum int64
		for _, f := range failed[kind] {
			sum += f
		}
		gm, _, gh := summary(gaps[kind])
		fmt.Printf("  %-28s commit → in sync median %8s  min %8s  max %8s  failed requests median %d (%d–%d, %d in all)  longest gap median %s, max %s  (n=%d)\n",
			kind, round(med), round(lo), round(hi), fm, fl, fh, sum, round(gm), round(gh), len(clean[kind]))
	}
	operator := 0
	for _, it := range iters {
		if it.fault == "" && it.converged {
			continue
		}
		slowest := maxOf(clean[it.kind])
		if slowest == 0 { // no clean iteration of its kind: the slowest of any
			for _, ds := range clean {
				slowest = max(slowest, maxOf(ds))
			}
		}
		budget := 2*b6Interval + slowest
		needs := !it.converged || it.fault != "" && !strings.Contains(it.fault, "missed") && it.afterClear > budget
		if needs {
			operator++
		}
		fmt.Printf("  iteration %3d %-26s %-28s fault at +%-7s commit → in sync %-8s fault cleared → in sync %-8s (allowed %s) failed requests %d of %d, longest gap %s  needs an operator: %v\n",
			it.i, it.fault, it.kind, round(it.faultAt), tookString(it), round(it.afterClear), round(budget), it.failed, it.requests, round(it.gap), needs)
	}
	fmt.Printf("  iterations needing an operator: %d (not in sync within 2 intervals + the slowest clean rotation of their kind after the fault cleared, or stuck %s)\n", operator, b6Cap)
	reportTrend(iters)
	reportJournal(iters)
	for _, side := range []struct {
		name string
		l    latency
	}{{"before the soak", before}, {"after the soak", after}} {
		report("rekey status, "+side.name, side.l.status)
		reportMiB("rekey status peak RSS, "+side.name, side.l.statusRSS)
		report("rekey history (default limit), "+side.name, side.l.history)
		report("rekey history --limit 0, "+side.name, side.l.historyAll)
	}
}

func maxOf(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

// reportTrend prints the agent's RSS, FDs and goroutines: first and last sample of each start of the
// agent (the kill -9 starts a new process), and first against last overall.
func reportTrend(iters []b6Iter) {
	if len(iters) == 0 {
		return
	}
	line := func(what string, it b6Iter) {
		fmt.Printf("  agent after iteration %3d (%s, start %d): rss %.1f MiB (anon %.1f, file %.1f, Go heap in use %.1f), %d fds, %d goroutines\n",
			it.i, what, it.agentStart, kibToMiB(it.proc.rss), kibToMiB(it.proc.anon), kibToMiB(it.proc.file), kibToMiB(it.proc.heap), it.proc.fds, it.proc.goroutines)
	}
	for idx, it := range iters {
		switch {
		case idx == 0:
			line("first", it)
		case it.agentStart != iters[idx-1].agentStart:
			line("last of the start before", iters[idx-1])
			line("first of a new start", it)
		}
	}
	last := iters[len(iters)-1]
	line("last", last)
	first := iters[0]
	if first.proc.rss > 0 {
		fmt.Printf("  agent rss last / first: %+.1f%%; fds %d → %d; goroutines %d → %d\n",
			100*(float64(last.proc.rss)/float64(first.proc.rss)-1), first.proc.fds, last.proc.fds, first.proc.goroutines, last.proc.goroutines)
	}
	n := min(10, len(iters)/2)
	if n == 0 {
		return
	}
	for _, f := range []struct {
		name string
		get  func(procSample) int64
	}{{"rss", func(p procSample) int64 { return p.rss }}, {"anon", func(p procSample) int64 { return p.anon }},
		{"file", func(p procSample) int64 { return p.file }}, {"Go heap in use", func(p procSample) int64 { return p.heap }}} {
		a, b := medianProc(iters[:n], f.get), medianProc(iters[len(iters)-n:], f.get)
		fmt.Printf("  agent %s, median of the first %d iterations vs the last %d: %.1f → %.1f MiB (%+.1f%%)\n",
			f.name, n, n, kibToMiB(a), kibToMiB(b), 100*(float64(b)/float64(max(a, 1))-1))
	}
}

// medianProc is the median of one field of the iterations' agent samples (KiB).
func medianProc(iters []b6Iter, get func(procSample) int64) int64 {
	v := make([]int64, len(iters))
	for i, it := range iters {
		v[i] = get(it.proc)
	}
	slices.Sort(v)
	return v[len(v)/2]
}

func kibToMiB(kib int64) float64 { return float64(kib) / 1024 }

// reportJournal prints journal.db's size at about ten points of the run.
func reportJournal(iters []b6Iter) {
	step := max(1, len(iters)/10)
	var parts []string
	for idx, it := range iters {
		if idx == 0 || (idx+1)%step == 0 || idx == len(iters)-1 {
			parts = append(parts, fmt.Sprintf("%d: %.0f KiB", it.i, float64(it.journal)/1024))
		}
	}
	fmt.Printf("  journal.db after iteration %s\n", strings.Join(parts, ", "))
}
