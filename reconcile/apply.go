package reconcile

import (
	"context"
	"fmt"
	"sort"
)

// maxRounds bounds observe→plan→execute rounds in one Apply: a recovery, a rotation and a finalize
// need three.
const maxRounds = 4

// Apply observes, plans and executes until nothing is left to do. Each secret is its own transaction:
// one failing does not stop the others. Interrupted transactions are finished first, so that no new
// rotation starts on top of a half-applied one. A secret gets one attempt per call — a rotation that
// rolled back or a finalize that failed is not retried in a loop — except that after a recovery its
// rotation is tried once more.
func Apply(ctx context.Context, d Desired, obs Observer, ex *Executor) ([]Result, error) {
	attempts := map[string][]Result{}
	var results []Result
	var last Plan
	for round := 0; round < maxRounds; round++ {
		o, err := obs.Observe(ctx, d)
		if err != nil {
			return results, fmt.Errorf("failed to observe live state: %w", err)
		}
		last = withIncidents(MakePlan(d, o), incidents(d, o))
		if err := adopt(ctx, ex, last); err != nil {
			return results, err
		}
		acted := false
		for _, sp := range byUrgency(last.Secrets) {
			if len(sp.Steps) == 0 || !mayAttempt(attempts[sp.Secret]) {
				continue
			}
			res := ex.Run(ctx, sp)
			attempts[sp.Secret] = append(attempts[sp.Secret], res)
			acted = true
			results = append(results, res)
			if ctx.Err() != nil {
				return results, ctx.Err()
			}
		}
		if !acted {
			break
		}
	}
	return append(results, idle(last, results)...), nil
}

// adopt records the secrets found in sync that the journal did not know as applied.
func adopt(ctx context.Context, ex *Executor, p Plan) error {
	for _, sp := range p.Secrets {
		if sp.Adopt {
			if err := ex.Adopt(ctx, sp); err != nil {
				return err
			}
		}
	}
	return nil
}

// mayAttempt allows a first attempt, and one more after a recovery or a finalize that finished its
// transaction (a server transaction finished before the rotation Git asks for next). A recovery or a
// finalize that failed is not run again in the same Apply: it would fail the same way, a second time.
func mayAttempt(done []Result) bool {
	if len(done) == 0 {
		return true
	}
	first := done[0]
	return len(done) == 1 && (first.Action == ActionRecover && first.Outcome == OutcomeRecovered ||
		first.Action == ActionFinalize && first.Outcome == OutcomeFinalized)
}

// byUrgency orders plans: recoveries, then finalizes, then rotations; by name within each.
func byUrgency(sps []SecretPlan) []SecretPlan {
	rank := map[Action]int{ActionRecover: 0, ActionFinalize: 1, ActionRotate: 2}
	out := append([]SecretPlan(nil), sps...)
	sort.SliceStable(out, func(i, j int) bool { return rank[out[i].Action] < rank[out[j].Action] })
	return out
}

// idle reports the secrets that had nothing to do, and those left refused or held after what ran (a
// refused value whose kept rotation was finished still is not applied).
func idle(p Plan, done []Result) []Result {
	var out []Result
	for _, sp := range p.Secrets {
		if ran(done, sp.Secret) && sp.Action != ActionRefuse && sp.Action != ActionHold && sp.Action != ActionDrift { // refused, held or drifted after a finalize
			continue
		}
		r := Result{Secret: sp.Secret, Action: sp.Action, Outcome: outcomeOf(sp.Action),
			FromFP: sp.FromFP, ToFP: sp.ToFP, Note: sp.Note}
		if len(sp.Steps) > 0 {
			r.Outcome, r.Reason = OutcomeFailed, "did not converge within one apply"
		}
		if sp.Orphan && sp.Action == ActionHold {
			// An orphan rekey cannot finish: loud, with the next step, while the other secrets go on.
			r.Txn, r.Outcome, r.Reason, r.Note = sp.Txn.ID, OutcomeFailed, sp.Note, ""
		}
		out = append(out, r)
	}
	return out
}

func ran(rs []Result, secret string) bool {
	for _, r := range rs {
		if r.Secret == secret {
			return true
		}
	}
	return false
}
