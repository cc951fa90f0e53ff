package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/rekeyhq/rekey/reconcile"
)

// newProgress reports the executor's steps on w: on a terminal, a live line for the running step (its
// elapsed time ticking while a health gate waits) that turns into ✓ or ✗ when it ends, in colour unless
// NO_COLOR is set; elsewhere (a log, a pipe, the agent) one timestamped line per finished step.
func newProgress(w io.Writer, getenv func(string) string) func(reconcile.Event) {
	if !isTerminal(w) {
		return progress(w)
	}
	p := &liveProgress{w: w, color: getenv("NO_COLOR") == "", now: time.Now, tick: 250 * time.Millisecond}
	return p.event
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// liveProgress redraws the running step's line in place.
type liveProgress struct {
	w     io.Writer
	color bool
	now   func() time.Time
	tick  time.Duration

	mu    sync.Mutex
	cur   *reconcile.Event // the running step, nil between steps
	timer *time.Timer
	gen   int // bumped by every event: a redraw scheduled for an earlier step does nothing
}

func (p *liveProgress) event(ev reconcile.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	p.gen++
	if ev.Status == "start" {
		p.cur = &ev
		p.draw()
		p.schedule()
		return
	}
	p.cur = nil
	mark, code := "✓", "32"
	if ev.Status != "ok" {
		mark, code = "✗", "31"
	}
	line := fmt.Sprintf("%s %-16s %-48s %s", p.paint(code, mark), ev.Secret, ev.Step, ev.Elapsed.Round(10*time.Millisecond))
	if ev.Err != "" {
		line += "  " + p.paint(code, ev.Err)
	}
	fmt.Fprint(p.w, "\r\033[K"+line+"\n")
}

// schedule arranges the next redraw of the running step; a timer that already fired while an event held
// the lock finds another generation and stops, so redraws never pile up.
func (p *liveProgress) schedule() {
	gen := p.gen
	p.timer = time.AfterFunc(p.tick, func() { p.redraw(gen) })
}

// redraw updates the running step's elapsed time, and schedules the next update.
func (p *liveProgress) redraw(gen int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil || gen != p.gen {
		return
	}
	p.draw()
	p.schedule()
}

func (p *liveProgress) draw() {
	elapsed := p.now().Sub(p.cur.Time).Round(100 * time.Millisecond)
	fmt.Fprintf(p.w, "\r\033[K%s %-16s %-48s %s", p.paint("36", "…"), p.cur.Secret, p.cur.Step, elapsed)
}

func (p *liveProgress) paint(code, s string) string {
	if !p.color {
		return s
	}
	return "\033[" + code + "m" + s + "\033[0m"
}
