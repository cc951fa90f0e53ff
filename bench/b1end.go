package main

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// b1End is when one measurement ended, each from the clock's start.
type b1End struct {
	clock time.Duration // the clock's end: what the medians and ratios are of
	done  time.Duration // when the tool said it was done: `up --wait` returned, or rekey's committed step
	held  time.Duration // when the end state was first seen to hold after that (exec: when waitFor saw it)
}

// b1Clock is time for untilHeld: the real one, or a test's.
type b1Clock interface {
	Now() time.Time
	Sleep(time.Duration)
}

type realClock struct{}

func (realClock) Now() time.Time        { return time.Now() }
func (realClock) Sleep(d time.Duration) { time.Sleep(d) }

// untilHeld is B1's end rule, the same for every side: the clock stops at the first look where the tool
// has said it is done and the end state holds. done is asked every tick until it says when the tool was
// done (or fails); only then are the consumers looked at, every tick, so that the observer does not load
// the machine while the tool works. Both waits end at deadline with the last reason the state did not hold.
func untilHeld(start, deadline time.Time, c b1Clock, done func() (time.Time, bool, error), holds func() (bool, string)) (b1End, error) {
	var doneAt time.Time
	for {
		at, ok, err := done()
		if err != nil {
			return b1End{}, err
		}
		if ok {
			doneAt = at
			break
		}
		if !c.Now().Before(deadline) {
			return b1End{}, fmt.Errorf("the tool did not say it was done within %s", deadline.Sub(start).Round(time.Second))
		}
		c.Sleep(b1Tick)
	}
	for {
		ok, why := holds()
		if ok {
			at := c.Now().Sub(start)
			return b1End{clock: at, done: doneAt.Sub(start), held: at}, nil
		}
		if !c.Now().Before(deadline) {
			return b1End{}, fmt.Errorf("done at %s, but the consumers did not reach the new value within %s: %s",
				doneAt.Sub(start).Round(time.Millisecond), deadline.Sub(start).Round(time.Second), why)
		}
		c.Sleep(b1Tick)
	}
}

// badOutcome is the agent's result line of a transaction that did not commit (agent/loud.go logs one per
// secret and outcome: "level=WARN msg=secret secret=session-key outcome=rolled-back …").
var badOutcome = regexp.MustCompile(`\bsecret=(\S+) outcome=(rolled-back|failed|finalize-failed|blocked|held|refused)\b`)

// rotationEnd reads the agent's log of one rotation (the lines after the commit): when the secret's
// transaction said committed (its step line's time, on start's day), or the line that says it failed
// instead: a failed step (the rollback follows it) or a result that is not a commit. Neither yet: false, "".
func rotationEnd(log, secret string, start time.Time) (at time.Time, committed bool, failure string) {
	for _, line := range strings.Split(log, "\n") {
		line = strings.TrimSpace(line)
		if m := badOutcome.FindStringSubmatch(line); m != nil && m[1] == secret {
			failure = line
			continue
		}
		m := stepLine.FindStringSubmatch(line)
		if m == nil || m[2] != secret {
			continue
		}
		switch {
		case m[4] == "failed" && failure == "":
			failure = line
		case m[3] == "committed" && m[4] == "ok" && failure == "":
			t, err := clockAt(m[1], start)
			if err != nil {
				return time.Time{}, false, "unreadable time in " + line
			}
			return t, true, ""
		}
	}
	return time.Time{}, false, failure
}

// agentDone is untilHeld's done for a rekey side: this rotation's committed step in the agent's log
// (from mark on), or an error with the log when the transaction failed instead. After a failed step it
// waits up to grace for the agent's result line, so that the log shows how the rollback ended.
func agentDone(log *syncBuffer, mark int, secret string, start time.Time, c b1Clock, grace time.Duration) func() (time.Time, bool, error) {
	var failedSeen time.Time
	return func() (time.Time, bool, error) {
		text := log.String()[mark:]
		at, ok, failure := rotationEnd(text, secret, start)
		if ok {
			return at, true, nil
		}
		if failure == "" {
			return time.Time{}, false, nil
		}
		if failedSeen.IsZero() {
			failedSeen = c.Now()
		}
		if badOutcome.MatchString(failure) || c.Now().Sub(failedSeen) >= grace {
			return time.Time{}, false, fmt.Errorf("the transaction did not commit: %s\nagent log:\n%s", failure, log.String())
		}
		return time.Time{}, false, nil
	}
}
