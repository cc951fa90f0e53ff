package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// planSwap rotates a server credential that has no overlap (one password per login, no second login) in a
// maintenance window: consumers stop in reverse roll order, so that none meets a server that rejects it;
// the server switches to the new value; sources are written; consumers start again in order, each
// health-gated and verified. A failure before the verified point switches the server back first, then
// restores the sources and starts the consumers on the old value.
func planSwap(sp SecretPlan, s Secret) SecretPlan {
	srv := s.Server.Name
	var stopped []string
	steps := []Step{
		{Kind: StepCheck, Server: srv, From: s.Current[0], FP: sp.FromFP},
		{Kind: StepBegin},
		{Kind: StepSnapshot, Locations: locations(s)},
	}
	for i := len(s.Consumers) - 1; i >= 0; i-- {
		if c := s.Consumers[i]; c.Action != NoRoll {
			steps = append(steps, Step{Kind: StepStop, Consumer: c.Name, Roll: c.Action})
			stopped = append(stopped, c.Name)
		}
	}
	steps = append(steps,
		Step{Kind: StepSwap, Server: srv, From: s.Current[0], FP: s.DesiredFP},
		Step{Kind: StepLogin, Server: srv, FP: s.DesiredFP})
	for _, l := range s.Current {
		steps = append(steps, Step{Kind: StepWrite, Location: l, Value: ValueDesired, FP: s.DesiredFP})
	}
	steps = append(steps, rollAll(s, s.Consumers)...)
	steps = append(steps, Step{Kind: StepVerified})
	steps = append(steps, serviceRoll(s)...)
	sp.Steps = append(steps, Step{Kind: StepCommitted})
	sp.Note = "swap without overlap: " + interruption(stopped)
	return sp
}

func interruption(stopped []string) string {
	if len(stopped) == 0 {
		return "no consumer to stop"
	}
	return fmt.Sprintf("%s stopped until each is healthy again on the new value (expected interruption: about the time to restart them)", strings.Join(stopped, ", "))
}

// serviceRoll rolls the server's own service onto the sources once they hold the only value it accepts.
func serviceRoll(s Secret) []Step {
	if svc := s.Server.Service; svc != "" && s.Server.Roll != NoRoll {
		return []Step{{Kind: StepRoll, Consumer: svc, Roll: s.Server.Roll}, {Kind: StepHealth, Consumer: svc}}
	}
	return nil
}

// stop stops a consumer; it counts as rolled, so that any rollback or recovery starts it again.
func (r *run) stop(ctx context.Context, st Step) error {
	if err := r.enter(ctx, PhaseRolling); err != nil {
		return err
	}
	stopper, ok := r.e.Roller.(Stopper)
	if !ok {
		return fmt.Errorf("cannot stop %s: the roller has no stop", st.Consumer)
	}
	if r.stoppedAt.IsZero() {
		r.stoppedAt = r.e.Now()
	}
	c := Consumer{Name: st.Consumer, Action: st.Roll}
	r.rolled = append(r.rolled, c)
	return r.effect(ctx, st, func() error { return stopper.Stop(ctx, c.Name) })
}

// swap makes the server accept the new value only, in a window where no consumer runs.
func (r *run) swap(ctx context.Context, st Step) error {
	if err := r.enter(ctx, PhaseWriting); err != nil {
		return err
	}
	current, err := r.readPlain(ctx, st.From)
	if err != nil {
		return err
	}
	next, err := r.desired()
	if err != nil {
		return err
	}
	r.staged = true // before the intent: a failure half-way must be undone too
	return r.effect(ctx, st, func() error {
		cr, err := r.credential(st.Server)
		if err != nil {
			return err
		}
		return swapOn(ctx, cr, current, next)
	})
}

// swapOn makes the server accept next instead of current: in one step when the driver can (Swapper),
// else with Stage then Revoke (the rotated login logs itself in with current to stage, then with next to
// revoke).
func swapOn(ctx context.Context, cr Credential, current, next string) error {
	if s, ok := cr.(Swapper); ok {
		return s.Swap(ctx, current, next)
	}
	if _, err := cr.Stage(ctx, current, next); err != nil {
		return err
	}
	return cr.Revoke(ctx, next)
}

// revertSwap undoes a swap with no overlap: every consumer that may run is stopped (none may meet the
// server switching back), the server accepts the old value only again, and the consumers start on it in
// roll order.
func (r *run) revertSwap(ctx context.Context) error {
	var order []Consumer
	seen := map[string]bool{}
	for _, c := range r.rolled {
		if !seen[c.Name] {
			seen[c.Name] = true
			order = append(order, c)
		}
	}
	sortByRoll(order, r.sp.order)
	stopper, _ := r.e.Roller.(Stopper)
	for i := len(order) - 1; i >= 0 && stopper != nil; i-- { // dependents first
		st := Step{Kind: StepStop, Consumer: order[i].Name, Roll: order[i].Action}
		stop := func() error { return r.retrying(ctx, func() error { return stopper.Stop(ctx, st.Consumer) }) }
		if err := r.timed(ctx, st, func() error { return r.undoEffect(ctx, st, stop) }); err != nil {
			return err
		}
	}
	st := Step{Kind: StepUnstage, Server: r.sp.Server, From: r.sp.Current}
	unstage := func() error { return r.retrying(ctx, func() error { return r.unstage(ctx, st) }) }
	if err := r.timed(ctx, st, func() error { return r.undoEffect(ctx, st, unstage) }); err != nil {
		return err
	}
	r.staged = false
	var errs []error
	// Stopped consumers start in roll order; one that fails to start must not keep the others down.
	for _, c := range order {
		if err := r.reroll(ctx, c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// sortByRoll puts consumers in the secret's roll order (the order of names); unknown ones keep theirs.
func sortByRoll(cs []Consumer, names []string) {
	rank := map[string]int{}
	for i, n := range names {
		rank[n] = i + 1
	}
	slices.SortStableFunc(cs, func(a, b Consumer) int { return rank[a.Name] - rank[b.Name] })
}
