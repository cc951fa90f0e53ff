package reconcile

import (
	"context"
	"encoding/json"
	"errors"
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
	steps = append(steps, revokeSteps(s, s.DesiredFP)...)
	sp.Steps = append(steps, Step{Kind: StepCommitted})
	return sp
}

// revokeSteps retire the old value on the server once the new one is verified, then roll the server's
// own service onto the sources, which now hold the only value it accepts.
// toFP is the value the transaction rotated to: after a restart Git may hold another one by now.
func revokeSteps(s Secret, toFP string) []Step {
	srv := s.Server.Name
	steps := []Step{
		{Kind: StepFinalize},
		{Kind: StepDrain, Server: srv, FP: toFP},
		{Kind: StepRevoke, Server: srv, FP: toFP},
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
	switch st.Kind {
	case StepCheck:
		current, err := r.e.Reader.ReadValue(ctx, st.From)
		if err != nil {
			return err
		}
		cr, err := r.credential(st.Server)
		if err != nil {
			return err
		}
		return cr.Check(ctx, current)
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
			cr, err := r.credential(st.Server)
			if err != nil {
				return err
			}
			r.login, err = cr.Stage(ctx, current, next)
			return err
		})
	case StepLogin:
		next, err := r.desired()
		if err != nil {
			return err
		}
		cr, err := r.credential(st.Server)
		if err != nil {
			return err
		}
		return cr.Verify(ctx, next)
	case StepDrain:
		next, err := r.rotatedTo(ctx, st)
		if err != nil {
			return err
		}
		cr, err := r.credential(st.Server)
		if err != nil {
			return err
		}
		return cr.Drain(ctx, next)
	case StepRevoke:
		next, err := r.rotatedTo(ctx, st)
		if err != nil {
			return err
		}
		var byHand error
		err = r.effect(ctx, st, func() error {
			cr, err := r.credential(st.Server)
			if err != nil {
				return err
			}
			err = cr.Revoke(ctx, next)
			if errors.Is(err, ErrRevokeByHand) {
				byHand, err = err, nil
			}
			return err
		})
		if err != nil || byHand == nil {
			return err
		}
		return r.keepPending(ctx, byHand)
	case StepProbe:
		return r.probe(ctx, st)
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
	r.hide(current)
	// The new value is known only while Git still holds the one this transaction staged.
	next := ""
	if t := r.sp.Txn; t == nil || t.ToFP == r.sp.ToFP {
		next, _ = r.e.Values(r.sp.Secret)
	}
	cr, err := r.credential(st.Server)
	if err != nil {
		return err
	}
	return cr.Unstage(ctx, current, next)
}

// credential is the driver of a credential server, looked up where it is called so that a server missing
// from the config fails the step that needs it, after its intent is journaled, as any driver error does.
func (r *run) credential(server string) (Credential, error) {
	if r.e.Credentials == nil {
		return nil, fmt.Errorf("no credential server driver for %s", server)
	}
	return r.e.Credentials.Server(server)
}

// rotatedTo is the value the transaction rotated to, for the steps that retire the old one: read from the
// sources, which every consumer verified, and checked against the transaction's fingerprint. Git may have
// moved on since (a revert after a failed finalize): revoking with Git's value instead would leave the
// server accepting a value no consumer holds.
func (r *run) rotatedTo(ctx context.Context, st Step) (string, error) {
	v, err := r.e.Reader.ReadValue(ctx, r.sp.Current)
	if err != nil {
		return "", err
	}
	if r.e.FP == nil {
		return "", fmt.Errorf("no fingerprint function: cannot check the value at %s", r.sp.Current)
	}
	if got := r.e.FP(v); got != st.FP {
		return "", fmt.Errorf("%s holds %s, not %s, the value this transaction rotated to: rekey will not retire the old value on %s; put %s back in the source, or roll the consumers back by hand", r.sp.Current, orNone(got), st.FP, st.Server, st.FP)
	}
	return v, nil
}

func (r *run) desired() (string, error) {
	v, ok := r.e.Values(r.sp.Secret)
	if !ok {
		return "", fmt.Errorf("secret %s has no desired value", r.sp.Secret)
	}
	return v, nil
}

// planProbe checks the old values still to be revoked by hand: each one that stopped logging in is
// recorded and forgotten; the others are reported again.
func planProbe(sp SecretPlan, s Secret, st SecretState) SecretPlan {
	sp.Action, sp.Note = ActionProbe, fmt.Sprintf("%d old value(s) to revoke at the provider", len(st.Pending))
	for _, fp := range st.Pending {
		sp.Steps = append(sp.Steps, Step{Kind: StepProbe, Server: s.Server.Name, FP: fp})
	}
	return sp
}

// pendingKey is where the stash keeps an old value until its revocation is seen.
func pendingKey(secret, fp string) string { return "pending/" + secret + "/" + fp }

// keepPending records that the old value must be revoked by hand and keeps it, encrypted, for the probes.
func (r *run) keepPending(ctx context.Context, reason error) error {
	saved, err := r.loadStash(ctx)
	if err != nil {
		return err
	}
	old, found := "", false
	for _, s := range saved {
		if s.Path == r.sp.Current.Path && s.Key == r.sp.Current.Key {
			old, found = s.Value, true
		}
	}
	fromFP := r.sp.FromFP
	if t := r.sp.Txn; t != nil && r.sp.Action != ActionRotate {
		fromFP = t.FromFP
	}
	if !found || old == "" || fromFP == "" {
		return nil // nothing was live before: nothing to revoke
	}
	data, err := json.Marshal(old)
	if err != nil {
		return fmt.Errorf("failed to encode the old value: %w", err)
	}
	if err := r.e.Stash.Save(ctx, pendingKey(r.sp.Secret, fromFP), data); err != nil {
		return err
	}
	r.res.Pending = fromFP
	r.res.Note = fmt.Sprintf("pending revocation: revoke the old value %s at the provider; rekey checks until it stops working", fromFP)
	return r.record(ctx, Record{Type: RecordPending, FromFP: fromFP, Reason: r.text(reason)})
}

// probe checks whether one pending old value still logs in.
func (r *run) probe(ctx context.Context, st Step) error {
	data, err := r.e.Stash.Load(ctx, pendingKey(r.sp.Secret, st.FP))
	if err != nil {
		return err
	}
	var old string
	if err := json.Unmarshal(data, &old); err != nil {
		return fmt.Errorf("failed to decode the old value: %w", err)
	}
	r.hide(old)
	cr, err := r.credential(st.Server)
	if err != nil {
		return err
	}
	p, ok := cr.(Prober)
	if !ok {
		return fmt.Errorf("server %s cannot tell whether a value still logs in", st.Server)
	}
	ok, err = p.Accepts(ctx, old)
	if err != nil {
		return err
	}
	if ok {
		r.res.Outcome = OutcomePending
		return nil
	}
	if err := r.record(ctx, Record{Type: RecordRevokedSeen, FromFP: st.FP}); err != nil {
		return err
	}
	_ = r.e.Stash.Drop(ctx, pendingKey(r.sp.Secret, st.FP))
	if r.res.Outcome == "" {
		r.res.Outcome = OutcomeRevokedSeen
	}
	return nil
}
