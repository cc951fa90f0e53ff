package reconcile

import (
	"context"
	"fmt"
)

// planServerRotate rotates a credential of a server with a dual-validity window: the server accepts both
// values before any source changes, consumers move one at a time (each still able to log in whichever
// value it has), and the old value is revoked only after every consumer verified the new one and no
// session uses the old one any more. A failed check leaves everything untouched; a failure before the
// verified point rolls back sources, consumers and the server.
func planServerRotate(sp SecretPlan, s Secret) SecretPlan {
	srv := s.Server.Name
	steps := []Step{
		{Kind: StepCheck, Server: srv, From: s.Current[0], FP: sp.FromFP},
		{Kind: StepBegin},
		{Kind: StepSnapshot, Locations: locations(s)},
		{Kind: StepStage, Server: srv, From: s.Current[0], FP: s.DesiredFP},
		{Kind: StepLogin, Server: srv, FP: s.DesiredFP},
	}
	for _, l := range s.Logins {
		steps = append(steps, Step{Kind: StepWrite, Location: l, Value: ValueLogin, FP: s.DesiredFP})
	}
	for _, l := range s.Current {
		steps = append(steps, Step{Kind: StepWrite, Location: l, Value: ValueDesired, FP: s.DesiredFP})
	}
	steps = append(steps, rollAll(s, s.Consumers)...)
	steps = append(steps, Step{Kind: StepVerified})
	steps = append(steps, revokeSteps(s)...)
	sp.Steps = append(steps, Step{Kind: StepCommitted})
	return sp
}

// revokeSteps retire the old value on the server once the new one is verified, then roll the server's
// own service onto the sources, which now hold the only value it accepts.
func revokeSteps(s Secret) []Step {
	srv := s.Server.Name
	steps := []Step{
		{Kind: StepFinalize},
		{Kind: StepDrain, Server: srv},
		{Kind: StepRevoke, Server: srv, FP: s.DesiredFP},
	}
	if svc := s.Server.Service; svc != "" && s.Server.Roll != NoRoll {
		steps = append(steps,
			Step{Kind: StepRoll, Consumer: svc, Roll: s.Server.Roll},
			Step{Kind: StepHealth, Consumer: svc})
	}
	return steps
}

// server runs one credential server step.
func (r *run) server(ctx context.Context, st Step) error {
	if r.e.Credentials == nil {
		return fmt.Errorf("no credential server driver for %s", st.Server)
	}
	cr := r.e.Credentials
	switch st.Kind {
	case StepCheck:
		current, err := r.e.Reader.ReadValue(ctx, st.From)
		if err != nil {
			return err
		}
		return cr.Check(ctx, st.Server, current)
	case StepStage:
		if err := r.enter(ctx, PhaseWriting); err != nil {
			return err
		}
		current, err := r.e.Reader.ReadValue(ctx, st.From)
		if err != nil {
			return err
		}
		next, err := r.desired()
		if err != nil {
			return err
		}
		r.staged = true // before the intent: a failure half-way must be undone too
		return r.effect(ctx, st, func() error {
			r.login, err = cr.Stage(ctx, st.Server, current, next)
			return err
		})
	case StepLogin:
		next, err := r.desired()
		if err != nil {
			return err
		}
		return cr.Verify(ctx, st.Server, next)
	case StepDrain:
		next, err := r.desired()
		if err != nil {
			return err
		}
		return cr.Drain(ctx, st.Server, next)
	case StepRevoke:
		next, err := r.desired()
		if err != nil {
			return err
		}
		return r.effect(ctx, st, func() error { return cr.Revoke(ctx, st.Server, next) })
	case StepUnstage:
		return r.effect(ctx, st, func() error { return r.unstage(ctx, st) })
	}
	return fmt.Errorf("unknown step %q", st.Kind)
}

// unstage puts the server back to accepting the value the snapshot holds at the current location.
func (r *run) unstage(ctx context.Context, st Step) error {
	saved, err := r.loadStash(ctx)
	if err != nil {
		return err
	}
	current, found := "", false
	for _, s := range saved {
		if s.Path == st.From.Path && s.Key == st.From.Key {
			current, found = s.Value, true
		}
	}
	if !found {
		return fmt.Errorf("the snapshot has no value for %s", st.From)
	}
	// The new value is known only while Git still holds the one this transaction staged.
	next := ""
	if t := r.sp.Txn; t == nil || t.ToFP == r.sp.ToFP {
		next, _ = r.e.Values(r.sp.Secret)
	}
	return r.e.Credentials.Unstage(ctx, st.Server, current, next)
}

func (r *run) desired() (string, error) {
	v, ok := r.e.Values(r.sp.Secret)
	if !ok {
		return "", fmt.Errorf("secret %s has no desired value", r.sp.Secret)
	}
	return v, nil
}
