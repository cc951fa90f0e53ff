package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

var traceLine = regexp.MustCompile(`trace (\d\d:\d\d:\d\d\.\d{3}) (\S+) (\S+) (\S+)$`)

// tracePhase is one phase of a roll from REKEY_TRACE's lines: when it began, how long it took.
type tracePhase struct {
	began time.Time
	took  time.Duration
}

// tracePhases reads the phases of service's rolls from rekey's stderr, in order, by phase name.
func tracePhases(t *testing.T, stderr, service string) map[string][]tracePhase {
	t.Helper()
	out := map[string][]tracePhase{}
	for _, line := range strings.Split(stderr, "\n") {
		m := traceLine.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil || m[2] != service {
			continue
		}
		began, err1 := time.Parse("15:04:05.000", m[1])
		took, err2 := time.ParseDuration(m[4])
		if err1 != nil || err2 != nil {
			t.Fatalf("unreadable trace line %q", line)
		}
		out[m[3]] = append(out[m[3]], tracePhase{began, took})
	}
	return out
}

// startsAhead counts service's config hashes and those computed while a new container was being started
// (a scale-up began before the hash was known).
func startsAhead(t *testing.T, stderr, service string) (hashes, ahead int) {
	t.Helper()
	phases := tracePhases(t, stderr, service)
	for _, h := range phases["config-hash"] {
		hashes++
		for _, up := range phases["scale-up"] {
			// Times are to the millisecond: a start 2 ms or more before the hash's end began while it ran.
			if !up.began.Before(h.began) && up.began.Add(2*time.Millisecond).Before(h.began.Add(h.took)) {
				ahead++
				break
			}
		}
	}
	return hashes, ahead
}
