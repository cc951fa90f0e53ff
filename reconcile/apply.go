package reconcile

import (
	"context"
	"fmt"
)

// maxRounds bounds observe→plan→execute rounds in one Apply: a recovery, a rotation and a finalize
// need three.
const maxRounds = 4

// Apply observes, plans and executes until nothing is left to do. Each secret is its own transaction:
// one failing does not stop the others. A secret gets at most one attempt per action in one call, so a
// rotation that rolled back is not retried in a loop; after a recovery the rotation is tried once more.
func Apply(ctx context.Context, d Desired, obs Observer, ex *Executor) ([]Result, error) {
	tried := map[string]bool{}
	var results []Result
	var last Plan
	for round := 0; round < maxRounds; round++ {
		o, err := obs.Observe(ctx, d)
		if err != nil {
			return results, fmt.Errorf("failed to observe live state: %w", err)
		}
		last = MakePlan(d, o)
		acted := false
		for _, sp := range last.Secrets {
			key := sp.Secret + "/" + string(sp.Action)
			if len(sp.Steps) == 0 || tried[key] {
				continue
			}
			tried[key], acted = true, true
			results = append(results, ex.Run(ctx, sp))
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

// idle reports the secrets that had nothing to do.
func idle(p Plan, done []Result) []Result {
	var out []Result
	for _, sp := range p.Secrets {
		if ran(done, sp.Secret) {
			continue
		}
		r := Result{Secret: sp.Secret, Action: sp.Action, Outcome: outcomeOf(sp.Action),
			FromFP: sp.FromFP, ToFP: sp.ToFP, Note: sp.Note}
		if len(sp.Steps) > 0 {
			r.Outcome, r.Reason = OutcomeFailed, "did not converge within one apply"
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
