package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
)

// Pending revocations: an old value only its operator can revoke (Credential.Revoke wrapped
// ErrRevokeByHand) is kept, encrypted, and probed on later runs until it stops logging in.

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
	old, found, err := r.snapshotValue(ctx, r.sp.Current) // the old value itself, not a URL holding it
	if err != nil {
		return err
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
	r.note(fmt.Sprintf("pending revocation: revoke the old value %s at the provider; rekey checks until it stops working", fromFP))
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
