package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Healing a credential server that restarted mid-rotation. A server restarted by a crash, an OOM kill,
// `docker restart` or a reboot comes back from its bootstrap configuration: a Redis started with
// requirepass from its container environment accepts the old value only, whatever was staged or revoked
// live. Retrying a step that logs in with the new value would then fail for ever. When a server step
// fails, the executor asks the server which of the values the transaction knows it accepts now (the new
// one, then the old one from the snapshot), brings the server back to the transaction's state — stage
// the new value again, logging in with the old one, or recreate the server's own service from the
// sources when that is where its password comes from and they already hold the new value — and runs the
// step once more. The decision is decideHeal, a pure function of what the probes found.

// probeResult is what one login attempt with a value showed.
type probeResult int

const (
	probeUnknown  probeResult = iota // the server did not answer (stopped, restarting)
	probeAccepted                    // the value logs in
	probeRejected                    // the server answered and refused the value
)

func (p probeResult) String() string {
	switch p {
	case probeAccepted:
		return "accepted"
	case probeRejected:
		return "rejected"
	}
	return "no answer"
}

// healMove is what the executor does to bring a server back to the transaction's state.
type healMove int

const (
	healGiveUp      healMove = iota // nothing rekey can do from what logs in: the step fails
	healRetry                       // the server holds the state the step needs: the failure passed, run it again
	healRestage                     // the server lost the new value but accepts the old one: stage the new one again
	healRecreate                    // recreate the server's service from the sources, which hold the new value
	healWait                        // the server does not answer: wait for it, then look again
	healWaitHealthy                 // the server answers nothing past the wait: give its own health gate a chance, once, then look again
)

func (m healMove) String() string {
	return [...]string{"give up", "retry", "stage the new value again", "recreate the server's service", "wait", "wait for the server's health gate"}[m]
}

// healCase is what decideHeal looks at.
type healCase struct {
	Step        StepKind    // the server step that failed
	Next, Old   probeResult // the new value, then the old one (probed only when the new one is refused)
	CanRecreate bool        // the server's service reads its password from the sources and may be rolled
	WaitOver    bool        // the time to wait for an absent server is over
	// Away says the server was seen not answering since the step failed (or the step's error says so):
	// a step that failed while the server was there and in the right state failed for its own reason.
	Away bool
	// Swap says the secret swaps without overlap: there is no dual window to stage again.
	Swap bool
	// HealthUntried says the server's own health gate has not had its chance in this heal yet: a server
	// that answers nothing may only be starting (loading its data, recovering).
	HealthUntried bool
}

// decideHeal chooses the move for a failed server step. Forward steps (drain, revoke: every consumer
// runs the new value, which the sources hold) need the server to accept the new value; stage and login
// need it to accept both (the dual window); unstage (a rollback) needs it to accept the old value, and
// its drivers log in with whichever value works. A server that answers nothing is recreated only after
// its own health gate had a chance: one still starting (loading its data, recovering) is not replaced.
func decideHeal(c healCase) healMove {
	m := decideHealMove(c)
	switch {
	case m == healRestage && c.Swap:
		// A swapped secret's server holds one value: there is no dual window to bring back.
		return healGiveUp
	case m == healRecreate && c.Next == probeUnknown && c.HealthUntried:
		return healWaitHealthy
	}
	return m
}

// decideHealMove is decideHeal from the probes alone.
func decideHealMove(c healCase) healMove {
	forward := c.Step == StepDrain || c.Step == StepRevoke
	switch {
	case c.Step == StepUnstage && (c.Next == probeAccepted || c.Old == probeAccepted):
		return healRetry
	case c.Step == StepUnstage && c.Next == probeRejected && c.Old == probeRejected:
		return healGiveUp
	case c.Next == probeAccepted && c.Step == StepDrain && !c.Away:
		// Sessions on the old value outlived the drain timeout: waiting as long again would not help.
		return healGiveUp
	case c.Next == probeAccepted:
		return healRetry
	case c.Next == probeRejected && c.Old == probeAccepted:
		return healRestage
	case c.Next == probeRejected && c.Old == probeRejected:
		// A third value, or a server that restarted onto sources rekey wrote: only its sources can say.
		if forward && c.CanRecreate {
			return healRecreate
		}
		return healGiveUp
	case !c.WaitOver:
		return healWait
	case forward && c.CanRecreate:
		// Stopped for good, or never back: its sources hold the one value every consumer runs.
		return healRecreate
	}
	return healGiveUp
}

// giveUp is the error of a heal that found nothing to do: what the probes found, and why.
func giveUp(cause error, server string, c healCase) error {
	why := "nothing it can do brings the server back to this transaction's state"
	if c.Swap && c.Next == probeRejected && c.Old == probeAccepted {
		why = "it accepts the old value, not the new one, and a swapped secret has no dual window to stage again"
	}
	return fmt.Errorf("%w (rekey looked at %s: the new value: %s; the old value: %s; %s)", cause, server, c.Next, c.Old, why)
}

// Time bounds of healing: how long to wait for a server that does not answer, and how long one probe
// may take.
const (
	defaultHealWait = 30 * time.Second
	healProbeLimit  = 15 * time.Second
)

// healing runs a server step; when it fails, heal brings the server back to the transaction's state and
// the step runs once more.
func (r *run) healing(ctx context.Context, st Step, cr Credential, next string, step func() error) error {
	err := step()
	if err == nil || ctx.Err() != nil {
		return err
	}
	if herr := r.heal(ctx, st, cr, next, err); herr != nil {
		return herr
	}
	return step()
}

// heal probes the server until decideHeal has a move other than wait, and makes it. It returns nil when
// the step should run again, and cause (with what the probes found) when it should fail.
func (r *run) heal(ctx context.Context, st Step, cr Credential, next string, cause error) error {
	p, ok := cr.(Prober)
	if !ok {
		return cause
	}
	old, err := r.oldValue(ctx)
	if err != nil {
		return cause
	}
	wait := r.e.HealWait
	if wait == 0 {
		wait = defaultHealWait
	}
	deadline := time.Now().Add(wait)
	pause := min(time.Second, max(wait/10, time.Millisecond))
	svc, canRecreate := r.serverService()
	away := IsRetryable(cause)
	waitedHealthy := false
	for {
		c := healCase{Step: st.Kind, CanRecreate: canRecreate, WaitOver: !time.Now().Before(deadline),
			Swap: r.sp.Swap, HealthUntried: !waitedHealthy}
		c.Next = probe(ctx, p, next)
		if c.Next == probeRejected {
			c.Old = probe(ctx, p, old)
		}
		away = away || c.Next == probeUnknown || c.Next == probeRejected && c.Old == probeUnknown
		c.Away = away
		move := decideHeal(c)
		switch move {
		case healRetry:
			return nil
		case healRestage:
			if st.Kind == StepStage {
				return nil // staging again is the step itself
			}
			return r.restage(ctx, st, cr, old, next)
		case healWaitHealthy:
			waitedHealthy = true
			_ = r.e.Health.WaitHealthy(ctx, svc.Consumer) // passed or not, the probes say what next
			continue
		case healRecreate:
			return r.recreate(ctx, svc)
		case healGiveUp:
			return giveUp(cause, st.Server, c)
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return cause
		case <-t.C:
		}
	}
}

// ensureStaged checks, before a consumer moves to the new value during a rotation, that the server still
// accepts it, and heals the server if it restarted since the stage: a consumer rolled onto a value the
// server lost would fail every request until the revoke, and its health gate may not notice.
func (r *run) ensureStaged(ctx context.Context) error {
	if !r.staged || r.sp.Swap || r.sp.Action != ActionRotate || r.phase >= PhaseVerified {
		return nil
	}
	cr, err := r.credential(r.sp.Server)
	if err != nil {
		return err
	}
	next, err := r.desired()
	if err != nil {
		return err
	}
	st := Step{Kind: StepLogin, Server: r.sp.Server, FP: r.sp.ToFP}
	return r.healing(ctx, st, cr, next, func() error { return cr.Verify(ctx, next) })
}

// probe asks the server whether v logs in, changing nothing.
func probe(ctx context.Context, p Prober, v string) probeResult {
	if v == "" {
		return probeRejected
	}
	ctx, cancel := context.WithTimeout(ctx, healProbeLimit)
	defer cancel()
	ok, err := p.Accepts(ctx, v)
	switch {
	case err != nil:
		return probeUnknown
	case ok:
		return probeAccepted
	}
	return probeRejected
}

// restage stages the new value again, logging in with the old one the restarted server accepts, and
// checks that the new one logs in: the dual window of the transaction is back.
func (r *run) restage(ctx context.Context, st Step, cr Credential, old, next string) error {
	stage := Step{Kind: StepStage, Server: st.Server, From: r.sp.Current, FP: r.sp.ToFP}
	if t := r.sp.Txn; t != nil && r.sp.Action != ActionRotate {
		stage.FP = t.ToFP
	}
	err := r.timed(ctx, stage, func() error {
		return r.effect(ctx, stage, func() error {
			login, err := cr.Stage(ctx, old, next)
			if err == nil && login != "" {
				r.login = login
			}
			return err
		})
	})
	if err == nil {
		err = cr.Verify(ctx, next)
	}
	if err != nil {
		return fmt.Errorf("%s had lost the new value and staging it again failed: %w", st.Server, err)
	}
	r.note(st.Server + " had restarted without the new value: rekey staged it again")
	return nil
}

// recreate rolls the server's own service onto its sources and waits until it is healthy.
func (r *run) recreate(ctx context.Context, svc Step) error {
	err := r.timed(ctx, svc, func() error {
		return r.effect(ctx, svc, func() error { return r.e.Roller.Roll(ctx, Consumer{Name: svc.Consumer, Action: svc.Roll}) })
	})
	if err == nil {
		health := Step{Kind: StepHealth, Consumer: svc.Consumer}
		err = r.timed(ctx, health, func() error { return r.e.Health.WaitHealthy(ctx, svc.Consumer) })
	}
	if err != nil {
		return fmt.Errorf("recreating %s from its sources failed: %w", svc.Consumer, err)
	}
	r.note(svc.Consumer + " accepted neither value of this transaction: rekey recreated it from its sources")
	return nil
}

// note adds to the result's note: the plan's, a heal's, an excused check's, the swap's stop time and a
// pending revocation all say something the operator should read; none replaces another.
func (r *run) note(note string) {
	if r.res.Note != "" {
		note = r.res.Note + "; " + note
	}
	r.res.Note = note
}

// serverService is the roll of the server's own service in this plan (it reads the secret from the
// sources), if there is one: the roll after the revoke.
func (r *run) serverService() (Step, bool) {
	revoked := false
	for _, st := range r.sp.Steps {
		switch {
		case st.Kind == StepRevoke:
			revoked = true
		case revoked && st.Kind == StepRoll && st.Roll != NoRoll:
			return st, true
		}
	}
	return Step{}, false
}

// oldValue is the value the current location held before the transaction, from its snapshot.
func (r *run) oldValue(ctx context.Context) (string, error) {
	v, found, err := r.snapshotValue(ctx, r.sp.Current)
	if err == nil && !found {
		err = errors.New("the snapshot has no old value")
	}
	return v, err
}
