package main

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestB1Holds: the end state needs every running app and worker container to answer with the new key,
// no app with a previous one, and at least one container of each.
func TestB1Holds(t *testing.T) {
	app := func(name, key, prev string) b1Obs {
		return b1Obs{service: "app", name: name, fps: map[string]string{"session_key": key, "session_key_previous": prev}}
	}
	worker := func(name, key string) b1Obs {
		return b1Obs{service: "worker", name: name, fps: map[string]string{"session_key": key}}
	}
	cases := []struct {
		name string
		obs  []b1Obs
		want bool
		why  string
	}{
		{"both turned", []b1Obs{app("p-app-1", "new", ""), worker("p-worker-1", "new")}, true, ""},
		{"app still accepts the old key", []b1Obs{app("p-app-1", "new", "old"), worker("p-worker-1", "new")}, false, "session_key_previous"},
		{"worker not turned", []b1Obs{app("p-app-1", "new", ""), worker("p-worker-1", "old")}, false, "p-worker-1"},
		{"old app still running beside the new one", []b1Obs{app("p-app-1", "old", ""), app("p-app-2", "new", ""), worker("p-worker-1", "new")}, false, "p-app-1"},
		{"a second app with previous", []b1Obs{app("p-app-1", "new", ""), app("p-app-2", "new", "old"), worker("p-worker-1", "new")}, false, "p-app-2"},
		{"a container that does not answer", []b1Obs{app("p-app-1", "new", ""), {service: "worker", name: "p-worker-1", err: errors.New("connection refused")}}, false, "did not answer"},
		{"no worker running", []b1Obs{app("p-app-1", "new", "")}, false, "no running container of worker"},
		{"no app running", []b1Obs{worker("p-worker-1", "new")}, false, "no running container of app"},
		{"nothing running", nil, false, "no running container"},
	}
	for _, c := range cases {
		got, why := b1Holds("new", c.obs)
		if got != c.want || !strings.Contains(why, c.why) {
			t.Errorf("%s: holds %v (%q), want %v (%q)", c.name, got, why, c.want, c.why)
		}
	}
}

// TestB1Before: before a clock starts the observer must see an app and a worker, all answering, none on
// the value about to be written.
func TestB1Before(t *testing.T) {
	app := b1Obs{service: "app", name: "p-app-1", fps: map[string]string{"session_key": "old"}}
	worker := b1Obs{service: "worker", name: "p-worker-1", fps: map[string]string{"session_key": "old"}}
	turned := b1Obs{service: "worker", name: "p-worker-1", fps: map[string]string{"session_key": "new"}}
	silent := b1Obs{service: "worker", name: "p-worker-1", err: errors.New("no route to host")}
	cases := []struct {
		name string
		obs  []b1Obs
		why  string // "" = ready
	}{
		{"ready", []b1Obs{app, worker}, ""},
		{"no worker", []b1Obs{app}, "no running container of worker"},
		{"no app", []b1Obs{worker}, "no running container of app"},
		{"unreachable", []b1Obs{app, silent}, "does not answer the observer"},
		{"already on the new key", []b1Obs{app, turned}, "already reports the new key"},
	}
	for _, c := range cases {
		err := b1Before("new", c.obs)
		if (err == nil) != (c.why == "") || (err != nil && !strings.Contains(err.Error(), c.why)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.why)
		}
	}
}

const (
	b1Begin     = "17:00:01.100  session-key      begin                                            ok (5ms)\n"
	b1Roll      = "17:00:02.900  session-key      recreate app (start-first)                       ok (1.6s)\n"
	b1Committed = "17:00:05.010  session-key      committed                                        ok (10ms)\n"
)

// TestRotationEnd: the committed step of the secret ends the rotation at its own time; a failed step or
// a result that is not a commit is a failure; anything else is not over yet.
func TestRotationEnd(t *testing.T) {
	start := time.Date(2026, 12, 7, 17, 0, 0, 0, time.Local)
	at, ok, failure := rotationEnd(b1Begin+b1Roll+b1Committed+"time=x level=INFO msg=secret secret=session-key outcome=rotated\n", "session-key", start)
	if !ok || failure != "" || at.Sub(start) != 5010*time.Millisecond {
		t.Errorf("committed: at %s ok %v failure %q", at.Sub(start), ok, failure)
	}
	if _, ok, failure := rotationEnd(b1Begin+b1Roll, "session-key", start); ok || failure != "" {
		t.Errorf("still running: ok %v failure %q", ok, failure)
	}
	other := strings.ReplaceAll(b1Committed, "session-key", "db-password")
	if _, ok, _ := rotationEnd(b1Begin+other, "session-key", start); ok {
		t.Error("another secret's committed step ended the rotation")
	}
	failedStep := "17:00:03.000  session-key      verify logs                                      failed (20ms): logs of app contain \"panic\"\n"
	if _, ok, failure := rotationEnd(b1Begin+b1Roll+failedStep, "session-key", start); ok || !strings.Contains(failure, "verify logs") {
		t.Errorf("failed step: ok %v failure %q", ok, failure)
	}
	result := "time=x level=WARN msg=secret secret=session-key outcome=rolled-back from=hmac:1 to=hmac:2 reason=\"verify logs\"\n"
	if _, ok, failure := rotationEnd(b1Begin+failedStep+result, "session-key", start); ok || !strings.Contains(failure, "outcome=rolled-back") {
		t.Errorf("rolled back: ok %v failure %q", ok, failure)
	}
	// A rollback's own steps after a failed step (a restore and a re-roll, "ok") are not a commit.
	if _, ok, _ := rotationEnd(b1Begin+failedStep+b1Committed, "session-key", start); ok {
		t.Error("a committed line after a failed step ended the rotation")
	}
}

// fakeClock moves only when slept.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time        { return c.now }
func (c *fakeClock) Sleep(d time.Duration) { c.now = c.now.Add(d) }

// TestUntilHeld: the consumers are looked at only once the tool is done, and the clock stops at the
// first look after that where the state holds; the waits end at the deadline with the reason.
func TestUntilHeld(t *testing.T) {
	start := time.Date(2026, 12, 7, 17, 0, 0, 0, time.UTC)
	c := &fakeClock{now: start}
	doneAt := start.Add(4 * time.Second)
	done := func() (time.Time, bool, error) { return doneAt, !c.now.Before(doneAt), nil }
	looks := 0
	holds := func() (bool, string) {
		if c.now.Before(doneAt) {
			t.Errorf("looked at the consumers at %s, before the tool was done", c.now.Sub(start))
		}
		looks++
		return looks == 3, "old container still answers"
	}
	end, err := untilHeld(start, start.Add(time.Minute), c, done, holds)
	want := b1End{clock: 4*time.Second + 2*b1Tick, done: 4 * time.Second, held: 4*time.Second + 2*b1Tick}
	if err != nil || end != want {
		t.Errorf("end %+v, %v; want %+v", end, err, want)
	}

	c.now = start
	never := func() (bool, string) { return false, "p-app-1 (app) reports session_key \"old\"" }
	_, err = untilHeld(start, start.Add(time.Second), c, func() (time.Time, bool, error) { return start, true, nil }, never)
	if err == nil || !strings.Contains(err.Error(), "p-app-1") {
		t.Errorf("state never held: %v", err)
	}
	c.now = start
	_, err = untilHeld(start, start.Add(time.Second), c, func() (time.Time, bool, error) { return time.Time{}, false, nil }, never)
	if err == nil || !strings.Contains(err.Error(), "did not say it was done") {
		t.Errorf("never done: %v", err)
	}
	c.now = start
	boom := errors.New("the transaction did not commit")
	if _, err = untilHeld(start, start.Add(time.Second), c, func() (time.Time, bool, error) { return time.Time{}, false, boom }, never); !errors.Is(err, boom) {
		t.Errorf("done failed: %v", err)
	}
}

// TestAgentDone: only lines after mark count; a rollback's result fails at once with the agent's log, a
// failed step alone after the grace.
func TestAgentDone(t *testing.T) {
	start := time.Date(2026, 12, 7, 17, 0, 0, 0, time.Local)
	c := &fakeClock{now: start}
	var log syncBuffer
	log.Write([]byte(b1Committed)) // an earlier run's
	done := agentDone(&log, log.Len(), "session-key", start, c, time.Second)
	if _, ok, err := done(); ok || err != nil {
		t.Fatalf("before the rotation's lines: ok %v err %v", ok, err)
	}
	log.Write([]byte(b1Begin + b1Roll + b1Committed))
	if at, ok, err := done(); !ok || err != nil || at.Sub(start) != 5010*time.Millisecond {
		t.Errorf("committed: at %s ok %v err %v", at.Sub(start), ok, err)
	}

	log = syncBuffer{}
	done = agentDone(&log, 0, "session-key", start, c, time.Second)
	log.Write([]byte(b1Begin + "17:00:03.000  session-key      wait healthy app                                 failed (60s): unhealthy\n"))
	if _, _, err := done(); err != nil {
		t.Errorf("failed step, within the grace: %v", err)
	}
	c.Sleep(time.Second)
	if _, _, err := done(); err == nil || !strings.Contains(err.Error(), "agent log:") {
		t.Errorf("failed step, after the grace: %v", err)
	}
	done = agentDone(&log, 0, "session-key", start, c, time.Hour)
	log.Write([]byte("time=x level=WARN msg=secret secret=session-key outcome=rolled-back reason=\"wait healthy app\"\n"))
	if _, _, err := done(); err == nil || !strings.Contains(err.Error(), "outcome=rolled-back") {
		t.Errorf("rolled back: %v", err)
	}
}
