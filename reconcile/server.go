package reconcile

import (
	"context"
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
	cr, err := r.credential(st.Server)
	if err != nil {
		return err
	}
	switch st.Kind {
	case StepCheck:
		current, err := r.readPlain(ctx, st.From)
		if err != nil {
			return err
		}
		return cr.Check(ctx, current)
	case StepStage:
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
		return r.healing(ctx, st, cr, next, func() error {
			return r.effect(ctx, st, func() error {
				r.login, err = cr.Stage(ctx, current, next)
				return err
			})
		})
	case StepLogin:
		next, err := r.desired()
		if err != nil {
			return err
		}
		return r.healing(ctx, st, cr, next, func() error { return cr.Verify(ctx, next) })
	case StepDrain:
		next, err := r.rotatedTo(ctx, st)
		if err != nil {
			return err
		}
		return r.healing(ctx, st, cr, next, func() error { return cr.Drain(ctx, next) })
	case StepRevoke:
		return r.revoke(ctx, st, cr)
	case StepProbe:
		return r.probe(ctx, st)
	case StepUnstage:
		return r.effect(ctx, st, func() error { return r.unstageHealing(ctx, st) })
	}
	return fmt.Errorf("unknown step %q", st.Kind)
}

// revoke retires the old value on the server; an old value only its operator can revoke is kept as a
// pending revocation.
func (r *run) revoke(ctx context.Context, st Step, cr Credential) error {
	next, err := r.rotatedTo(ctx, st)
	if err != nil {
		return err
	}
	var byHand error
	err = r.healing(ctx, st, cr, next, func() error {
		return r.effect(ctx, st, func() error {
			err := cr.Revoke(ctx, next)
			if errors.Is(err, ErrRevokeByHand) {
				byHand, err = err, nil
			}
			return err
		})
	})
	if err != nil || byHand == nil {
		return err
	}
	return r.keepPending(ctx, byHand)
}

// unstageHealing unstages, healing a server that restarted or is away meanwhile.
func (r *run) unstageHealing(ctx context.Context, st Step) error {
	cr, err := r.credential(st.Server)
	if err != nil {
		return err
	}
	return r.healing(ctx, st, cr, r.stagedNext(), func() error { return r.unstage(ctx, st) })
}

// stagedNext is the new value this transaction staged, or "" when Git no longer holds it (a newer commit
// replaced it while the transaction was open: the value staged is then known to the server only).
func (r *run) stagedNext() string {
	if t := r.sp.Txn; t != nil && t.ToFP != r.sp.ToFP {
		return ""
	}
	next, _ := r.e.Values(r.sp.Secret)
	return next
}

// unstage puts the server back to accepting the value the snapshot holds at the current location.
func (r *run) unstage(ctx context.Context, st Step) error {
	current, found, err := r.snapshotValue(ctx, st.From)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("the snapshot has no value for %s", st.From)
	}
	next := r.stagedNext()
	cr, err := r.credential(st.Server)
	if err != nil {
		return err
	}
	return cr.Unstage(ctx, current, next)
}

// credential is the driver of the credential server a step names.
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
	v, err := r.readPlain(ctx, r.sp.Current)
	if err != nil {
		return "", err
	}
	if r.e.FP == nil {
		return "", fmt.Errorf("no fingerprint function: cannot check the value at %s", r.sp.Current)
	}
	// An orphan's value is no declared secret's: the session's redactor may not know it (orphan.go).
	r.hide(v)
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
