package live

import (
	"context"
	"errors"
	"fmt"

	"github.com/rekeyhq/rekey/reconcile"
	"github.com/rekeyhq/rekey/swarmio"
)

// SwarmObserver observes a Swarm stack's sources like Observer and then prunes the secret objects no
// longer needed: versions of a secret with no open transaction that neither a stack file names nor a
// service uses. The old object of a rotation is therefore removed only after the transaction ended with
// every consumer verified, and the new object of a rolled-back one once the services are back on the old.
// Removal is garbage collection of unreferenced objects, idempotent: a crash in the middle leaves some
// for the next run, and the journal does not record it.
type SwarmObserver struct {
	*Observer
	Stack *SwarmStack
	// Warn reports objects that could not be removed; observing goes on.
	Warn func(string)
}

// Observe implements reconcile.Observer.
func (o *SwarmObserver) Observe(ctx context.Context, d reconcile.Desired) (reconcile.Observed, error) {
	obs, err := o.Observer.Observe(ctx, d)
	if err != nil {
		return obs, err
	}
	busy := map[string]bool{}
	for _, s := range d.Secrets {
		if obs.Secrets[s.Name].Txn == nil {
			continue
		}
		for _, l := range append(append([]reconcile.Location{}, s.Current...), s.Previous...) {
			busy[l.Path] = true
		}
	}
	if _, err := o.Stack.Prune(ctx, busy); err != nil && o.Warn != nil {
		o.Warn(err.Error())
	}
	return obs, nil
}

// Prune removes the unused versions of every managed secret whose file is not busy, and returns their
// names.
func (s *SwarmStack) Prune(ctx context.Context, busy map[string]bool) ([]string, error) {
	used, err := s.Swarm.SecretsInUse(ctx)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, sec := range s.Secrets {
		if busy[sec.File] {
			continue
		}
		cur, _, err := s.pointer(ctx, sec.Key)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		versions, err := s.Swarm.SecretsLabelled(ctx, map[string]string{swarmio.LabelSecret: s.id(sec)})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, v := range versions {
			if v.Name == cur || used[v.ID] {
				continue
			}
			if err := s.Swarm.RemoveSecret(ctx, v); err != nil {
				errs = append(errs, err)
				continue
			}
			removed = append(removed, v.Name)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("failed to prune old secret objects of stack %s: %w", s.Stack, err)
	}
	return removed, nil
}
