package reconcile

import (
	"slices"
	"strings"
	"time"
)

// MakePlan compares desired and observed state and returns the work for every secret. It is a pure
// function: same inputs, same plan.
func MakePlan(d Desired, o Observed) Plan {
	var p Plan
	for _, s := range d.Secrets {
		if d.Heal {
			s.Heal = true
		}
		sp := planSecret(s, o.Secrets[s.Name], o.Now, d.Retry)
		sp.Revision = d.Revision
		p.Secrets = append(p.Secrets, sp)
	}
	return withOrphans(p, d, o)
}

func planSecret(s Secret, st SecretState, now time.Time, retry bool) SecretPlan {
	sp := SecretPlan{Secret: s.Name, Kind: s.Kind, ToFP: s.DesiredFP}
	if s.Server != nil && len(s.Current) > 0 {
		sp.Server, sp.Current, sp.Swap = s.Server.Name, s.Current[0], s.Swap
		for _, c := range s.Consumers {
			sp.order = append(sp.order, c.Name)
		}
	}
	sp.FromFP, sp.Note = liveFP(s, st)
	sp.Forms = formStates(s, st)
	t := st.Txn
	windowOver := t != nil && !now.Before(t.FinalizeAfter)
	switch {
	case t != nil && t.Phase < PhaseVerified:
		return planRecover(sp, s, t)
	case revoked(s, st) && !inSync(s, st) && t != nil && t.Phase == PhaseVerified && windowOver:
		// Refuse the value, but still finish the kept rotation: its old value must not stay accepted.
		sp = planFinalize(sp, s, t, true)
		sp.Note = refusedNote
		return sp
	case revoked(s, st) && !inSync(s, st) && (t == nil || t.Phase == PhaseVerified):
		sp.Action, sp.Note = ActionRefuse, refusedNote
		return sp
	case t != nil && t.ToFP != s.DesiredFP && t.Phase == PhaseVerified && !retry && st.RolledBack == s.DesiredFP:
		if windowOver { // hold the value, but let the kept rotation drop its old one
			sp = planFinalize(sp, s, t, true)
			sp.Note = heldNote
			return sp
		}
		sp.Action, sp.Note = ActionHold, heldNote
		return sp
	case t != nil && t.ToFP != s.DesiredFP && t.Phase == PhaseVerified && s.Server != nil:
		// A server transaction has no window to keep: it stopped between verified and its revoke. Finish
		// it first (the old value retired, or left pending revocation), then rotate to Git's value.
		sp = planFinalize(sp, s, t, true)
		sp.Note = finishFirstNote(t)
		return sp
	case t != nil && t.ToFP != s.DesiredFP && t.Phase == PhaseVerified:
		// Git moved on while the previous value was kept: the new rotation supersedes the old one.
		sp = planRotate(sp, s, now)
		sp.Txn, sp.Note = t, "supersedes "+t.ID
		return guardDestroy(sp, s)
	case t != nil && t.Phase == PhaseFinalizing && t.ToFP != s.DesiredFP:
		sp = planFinalize(sp, s, t, false)
		sp.Note = finishFirstNote(t)
		return sp
	case t != nil && t.Phase == PhaseFinalizing:
		return planFinalize(sp, s, t, false)
	case t != nil && now.Before(t.FinalizeAfter):
		sp.Action, sp.Txn = ActionWait, t
		sp.Note = "previous value kept until " + t.FinalizeAfter.UTC().Format(time.RFC3339)
		return sp
	case t != nil:
		return planFinalize(sp, s, t, true)
	case inSync(s, st) && len(st.Stale) > 0 && s.Heal && (retry || st.RerollRolledBack != s.DesiredFP):
		return planReroll(sp, s, st.Stale)
	case inSync(s, st) && len(st.Pending) > 0 && s.Server != nil:
		return planProbe(sp, s, st)
	case inSync(s, st):
		// A revoked value written back by hand is in sync but must not count as applied.
		sp.Action, sp.Adopt = ActionNone, st.Applied != s.DesiredFP && !revoked(s, st)
		return sp
	case t == nil && !retry && st.RolledBack == s.DesiredFP:
		sp.Action, sp.Note = ActionHold, heldNote
		return sp
	case t == nil && st.Applied == s.DesiredFP && !s.Heal:
		sp.Action, sp.Note = ActionDrift, driftNote
		return sp
	}
	return guardDestroy(planRotate(sp, s, now), s)
}

// guardDestroy refuses a rotation that replaces a live value of a Keep secret, or flags it when the
// commit allows it. Writing a value where none is live destroys nothing.
func guardDestroy(sp SecretPlan, s Secret) SecretPlan {
	if !s.Keep || sp.FromFP == "" || sp.Action != ActionRotate {
		return sp
	}
	if !s.AllowDestroy {
		return SecretPlan{Secret: sp.Secret, Kind: sp.Kind, Action: ActionRefuse, FromFP: sp.FromFP, ToFP: sp.ToFP, Note: destroyRefusedNote}
	}
	sp.Note = strings.TrimSuffix(destroyNote+"; "+sp.Note, "; ")
	return sp
}

const (
	destroyRefusedNote = "DATA-DESTROYING: the secret has rotation: never and Git's value differs from the live one; replacing it destroys the data the live value protects. Restore the live value in Git, or list the secret in allow_destroy to mean it"
	destroyNote        = "DATA-DESTROYING: rotation: never, allowed by allow_destroy; the data the old value protects is lost"
	refusedNote        = "the desired value was revoked by an earlier rotation (a revert or replay?); commit a new value"
	heldNote           = "the last attempt to rotate to this value rolled back; commit a new value, or run rekey apply to try again"
	driftNote          = "the live value differs from Git, which did not change since rekey applied it (a hand edit?): commit the live value to Git to keep it, or set heal: true (or run rekey apply --heal) to restore Git's"
)

// revoked reports whether the desired value must never be applied: a finished rotation removed it, or a
// rotation still keeping it as previous is retiring it (a revert during the keep_previous window).
func revoked(s Secret, st SecretState) bool {
	if st.Revoked {
		return true
	}
	for t := st.Txn; t != nil; t = t.Kept {
		if t.Phase == PhaseVerified && t.FromFP != "" && t.FromFP == s.DesiredFP {
			return true
		}
	}
	return false
}

// liveFP is the fingerprint consumers use now: the value at the first current location. When
// locations disagree, the note says so; the rotation writes them all anyway.
func liveFP(s Secret, st SecretState) (string, string) {
	if len(s.Current) == 0 {
		return "", ""
	}
	first := st.Current[s.Current[0]]
	for _, l := range s.Current[1:] {
		if st.Current[l] != first {
			return first, "live locations disagree"
		}
	}
	return first, ""
}

func inSync(s Secret, st SecretState) bool {
	for _, l := range s.Current {
		if st.Current[l] != s.DesiredFP {
			return false
		}
	}
	return len(s.Current) > 0
}

func planRotate(sp SecretPlan, s Secret, now time.Time) SecretPlan {
	sp.Action, sp.Footprint = ActionRotate, footprintOf(s)
	if s.Server != nil && s.Swap {
		return planSwap(sp, s)
	}
	if s.Server != nil {
		return planServerRotate(sp, s)
	}
	steps := []Step{{Kind: StepBegin}, {Kind: StepSnapshot, Locations: locations(s)}}
	if s.Kind == KindAppKey {
		for _, l := range s.Previous {
			steps = append(steps, Step{Kind: StepWrite, Location: l, Value: ValueOldCurrent,
				From: s.Current[0], FP: sp.FromFP})
		}
	}
	for _, l := range s.Current {
		steps = append(steps, Step{Kind: StepWrite, Location: l, Value: ValueDesired, FP: s.DesiredFP})
	}
	steps = append(steps, rollAll(s, s.Consumers)...)
	verified := Step{Kind: StepVerified}
	if s.Kind == KindAppKey && s.KeepPrevious > 0 {
		verified.After = now.Add(s.KeepPrevious)
		sp.Steps = append(steps, verified)
		return sp
	}
	steps = append(steps, verified)
	if s.Kind == KindAppKey {
		steps = append(steps, finalizeSteps(s, true)...)
	}
	sp.Steps = append(steps, Step{Kind: StepCommitted})
	return sp
}

func planFinalize(sp SecretPlan, s Secret, t *Txn, snapshot bool) SecretPlan {
	sp.Action, sp.Txn = ActionFinalize, t
	if s.Server != nil && s.Swap {
		sp.Steps = append(serviceRoll(s), Step{Kind: StepCommitted}) // swapped already: nothing to revoke
		return sp
	}
	if s.Server != nil {
		sp.Steps = append(revokeSteps(s, t.ToFP), Step{Kind: StepCommitted})
		return sp
	}
	if s.Kind != KindAppKey {
		// Nothing to drop: the transaction only needs its end recorded.
		sp.Steps = []Step{{Kind: StepCommitted}}
		return sp
	}
	sp.Steps = append(finalizeSteps(s, snapshot), Step{Kind: StepCommitted})
	return sp
}

// finalizeSteps clear the previous value and roll every consumer so none keeps accepting it. The
// snapshot comes before the finalizing phase is recorded, so a finalize that fails always has the
// previous value to put back; a resumed finalize keeps the snapshot from before the interruption.
func finalizeSteps(s Secret, snapshot bool) []Step {
	var steps []Step
	if snapshot {
		steps = append(steps, Step{Kind: StepSnapshot, Locations: locations(s)})
	}
	steps = append(steps, Step{Kind: StepFinalize})
	for _, l := range s.Previous {
		steps = append(steps, Step{Kind: StepWrite, Location: l, Value: ValueEmpty})
	}
	return append(steps, rollAll(s, s.Consumers)...)
}

// planReroll heals stale consumers: the sources already hold the desired value, so only those consumers
// are rolled, health-gated and verified, inside a normal transaction.
func planReroll(sp SecretPlan, s Secret, stale []string) SecretPlan {
	sp.Action, sp.Note = ActionRotate, "heal: roll stale consumers "+strings.Join(stale, ", ")
	sp.Footprint = footprintOf(s)
	var cs []Consumer
	for _, c := range s.Consumers {
		if slices.Contains(stale, c.Name) {
			cs = append(cs, c)
		}
	}
	steps := []Step{{Kind: StepBegin}, {Kind: StepSnapshot, Locations: locations(s)}}
	steps = append(steps, rollAll(s, cs)...)
	sp.Steps = append(steps, Step{Kind: StepVerified}, Step{Kind: StepCommitted})
	return sp
}

// planRecover rolls back a transaction interrupted before it verified: put the snapshot back and re-roll
// every consumer that may have picked up the new value.
func planRecover(sp SecretPlan, s Secret, t *Txn) SecretPlan {
	sp.Action, sp.Txn = ActionRecover, t
	sp.Note = "interrupted while " + t.Phase.String() + "; rolling back"
	var steps []Step
	if t.Phase >= PhaseWriting {
		steps = append(steps, Step{Kind: StepRestore})
	}
	// Re-roll what the journal says was rolled, in reverse order as the executor's own rollback does,
	// with the action recorded then: the config may have changed since.
	var again []Consumer
	for i := len(t.Rolled) - 1; i >= 0; i-- {
		c := t.Rolled[i]
		for _, known := range s.Consumers {
			if known.Name == c.Name {
				c.Checks = known.Checks
			}
		}
		again = append(again, c)
	}
	var unstage Step
	if s.Server != nil {
		unstage = Step{Kind: StepUnstage, Server: s.Server.Name, From: s.Current[0]}
	}
	switch {
	case s.Server != nil && s.Swap && t.Phase >= PhaseRolling:
		// The server may accept only the new value, and consumers may run on it: stop them all, switch
		// the server back, then start them on the old value in roll order.
		forward := slices.Clone(again)
		sortByRoll(forward, sp.order)
		for i := len(forward) - 1; i >= 0; i-- { // dependents first
			steps = append(steps, Step{Kind: StepStop, Consumer: forward[i].Name, Roll: forward[i].Action})
		}
		steps = append(append(steps, unstage), rollAll(s, forward)...)
	case s.Server != nil && t.Phase >= PhaseWriting:
		// The server may have been told to accept the new value: only the old one again, now that every
		// consumer is back on it.
		steps = append(append(steps, rollAll(s, again)...), unstage)
	default:
		steps = append(steps, rollAll(s, again)...)
	}
	sp.Steps = append(steps, Step{Kind: StepCommitted})
	return sp
}

// rollAll rolls consumers one at a time, each gated on health and on every check.
func rollAll(s Secret, cs []Consumer) []Step {
	var steps []Step
	for _, c := range cs {
		if c.Action != NoRoll {
			steps = append(steps,
				Step{Kind: StepRoll, Consumer: c.Name, Roll: c.Action, Strategy: c.Strategy, Why: c.Why},
				Step{Kind: StepHealth, Consumer: c.Name})
		}
		for i := range c.Checks {
			steps = append(steps, Step{Kind: StepVerify, Consumer: c.Name, Check: &c.Checks[i]})
		}
		for i := range s.Checks {
			steps = append(steps, Step{Kind: StepVerify, Consumer: c.Name, Check: &s.Checks[i]})
		}
	}
	return steps
}

// locations are every place the secret's values live, current first.
func locations(s Secret) []Location {
	return slices.Concat(s.Current, s.Previous, s.Logins)
}
