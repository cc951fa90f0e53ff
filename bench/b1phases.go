package main

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"
)

// phaseTable gathers the phases of a rekey side over its runs, from the agent's log: the executor's
// steps (one line each as it ends: "15:04:05.000  session-key  recreate app …  ok (2.07s)") and, with
// REKEY_TRACE, the phases of each roll ("rekey: trace 15:04:05.000 app scale-up 412ms", its start).
// A phase that happens more than once in a run (app rolls twice) is numbered.
type phaseTable struct {
	order []string
	stats map[string]*phaseStats
}

type phaseStats struct{ took, end []time.Duration }

var (
	stepLine  = regexp.MustCompile(`^(\d\d:\d\d:\d\d\.\d{3})  (\S+)\s+(.*?)\s+(ok|failed|skipped)(?: \(([^)]+)\))?(?::.*)?$`)
	traceLine = regexp.MustCompile(`^rekey: trace (\d\d:\d\d:\d\d\.\d{3}) (\S+) (\S+) (\S+)$`)
	// What differs from one run to the next in a step's text: fingerprints, the stack's temporary
	// directory, the proxy's port.
	fpText   = regexp.MustCompile(`hmac:[0-9a-f]+`)
	dirText  = regexp.MustCompile(`/\S*/stack/`)
	portText = regexp.MustCompile(`127\.0\.0\.1:\d+`)
)

// add reads one run's log; start is when the clock started (before `values set` and the commit), the
// origin of the ends.
func (p *phaseTable) add(log string, start time.Time) {
	if p.stats == nil {
		p.stats = map[string]*phaseStats{}
	}
	seen := map[string]int{}
	for _, line := range strings.Split(log, "\n") {
		key, at, took, ok := parsePhase(strings.TrimSpace(line), start)
		if !ok {
			continue
		}
		seen[key]++
		if seen[key] > 1 {
			key = fmt.Sprintf("%s #%d", key, seen[key])
		}
		st := p.stats[key]
		if st == nil {
			st = &phaseStats{}
			p.stats[key] = st
			p.order = append(p.order, key)
		}
		st.took = append(st.took, took)
		st.end = append(st.end, at.Sub(start))
	}
}

// parsePhase reads a step or trace line: its name, when it ended and how long it took.
func parsePhase(line string, start time.Time) (key string, end time.Time, took time.Duration, ok bool) {
	if m := traceLine.FindStringSubmatch(line); m != nil {
		began, err1 := clockAt(m[1], start)
		d, err2 := time.ParseDuration(m[4])
		if err1 != nil || err2 != nil {
			return "", time.Time{}, 0, false
		}
		return "  " + m[2] + ": " + m[3], began.Add(d), d, true
	}
	if m := stepLine.FindStringSubmatch(line); m != nil {
		at, err := clockAt(m[1], start)
		if err != nil {
			return "", time.Time{}, 0, false
		}
		d, _ := time.ParseDuration(m[5]) // steps that take no time print none
		key := fpText.ReplaceAllString(m[3], "hmac:…")
		key = portText.ReplaceAllString(dirText.ReplaceAllString(key, ""), "127.0.0.1:PORT")
		return key, at, d, true
	}
	return "", time.Time{}, 0, false
}

// clockAt is a wall-clock time of day (as the agent prints it, local time) on start's day.
func clockAt(s string, start time.Time) (time.Time, error) {
	t, err := time.ParseInLocation("15:04:05.000", s, time.Local)
	if err != nil {
		return time.Time{}, err
	}
	y, mo, d := start.Date()
	return time.Date(y, mo, d, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.Local), nil
}

func (p *phaseTable) empty() bool { return p == nil || len(p.order) == 0 }

func (p *phaseTable) print() {
	for _, key := range p.order {
		st := p.stats[key]
		fmt.Printf("  %-66s took %8s  ended at %8s  (n=%d)\n", key, round(median(st.took)), round(median(st.end)), len(st.took))
	}
}

// syncBuffer is a bytes.Buffer that the agent writes while the driver reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
