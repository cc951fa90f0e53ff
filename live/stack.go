package live

import (
	"context"
	"fmt"
	"time"

	"github.com/rekeyhq/rekey/dockerio"
	"github.com/rekeyhq/rekey/reconcile"
)

// Stack rolls compose services: Recreate goes through the Compose CLI, so the containers carry the
// config hash compose expects and a later `docker compose up -d` recreates nothing; Restart goes through
// the Docker API, for file consumers whose configuration did not change.
type Stack struct {
	Engine        *dockerio.Engine
	Compose       dockerio.Compose
	HealthTimeout time.Duration
	StopTimeout   time.Duration
	// StartFirst names the services recreated start-first (startfirst.go); the others stop-first.
	StartFirst map[string]StartFirst
	// Trace receives the phases of each roll (rolltrace.go); nil traces nothing.
	Trace RollTrace

	hashes *configHashes // set by ShareConfigHashes (confighash.go)
}

// rollTimeout bounds one recreate or restart; the health gate has its own timeout.
const rollTimeout = 5 * time.Minute

// Roll makes one consumer pick up the current values of its sources.
func (s *Stack) Roll(ctx context.Context, c reconcile.Consumer) error {
	ctx, cancel := context.WithTimeout(ctx, rollTimeout)
	defer cancel()
	switch c.Action {
	case reconcile.Recreate:
		// The plan's strategy rules (a swap stops its consumers first whatever the service allows); a
		// roll the plan did not decide (recovering a crashed transaction from its records) follows the
		// stack's, which also cleans up a start-first roll that a crash cut short.
		spec, ok := s.StartFirst[c.Name]
		if ok && c.Strategy != reconcile.StopFirst {
			return s.startFirst().roll(ctx, c.Name, spec)
		}
		began := time.Now()
		err := s.Compose.Up(ctx, c.Name)
		s.Trace.since(c.Name, "compose-up", began)
		return err
	case reconcile.Restart:
		return s.restart(ctx, c.Name)
	case reconcile.NoRoll:
		return nil
	}
	return fmt.Errorf("unknown roll action %q for %s", c.Action, c.Name)
}

func (s *Stack) restart(ctx context.Context, service string) error {
	cs, err := s.Engine.Containers(ctx, s.Compose.Project, service)
	if err != nil {
		return err
	}
	if len(cs) == 0 {
		return fmt.Errorf("service %s has no containers: is the stack up?", service)
	}
	for _, c := range cs {
		if err := s.Engine.Restart(ctx, c.ID, orDefault(s.StopTimeout, 10*time.Second)); err != nil {
			return fmt.Errorf("failed to restart %s: %w", c.Name, err)
		}
	}
	return nil
}

// Stop stops every container of a service (a swap stops writers before the credential changes); its next
// Roll starts it again.
func (s *Stack) Stop(ctx context.Context, consumer string) error {
	if isHost(consumer) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, rollTimeout)
	defer cancel()
	cs, err := s.Engine.Containers(ctx, s.Compose.Project, consumer)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if err := s.Engine.Stop(ctx, c.ID, orDefault(s.StopTimeout, 10*time.Second)); err != nil {
			return fmt.Errorf("failed to stop %s: %w", c.Name, err)
		}
	}
	return nil
}

// Containers lists the short IDs of a service's containers, for the journal.
func (s *Stack) Containers(ctx context.Context, consumer string) ([]string, error) {
	if isHost(consumer) {
		return nil, nil
	}
	cs, err := s.Engine.Containers(ctx, s.Compose.Project, consumer)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID[:min(12, len(c.ID))]
	}
	return ids, nil
}

// WaitHealthy waits for a service's containers; host consumers have nothing to wait for.
func (s *Stack) WaitHealthy(ctx context.Context, consumer string) error {
	if isHost(consumer) {
		return nil
	}
	return s.Engine.WaitHealthy(ctx, s.Compose.Project, consumer, orDefault(s.HealthTimeout, time.Minute))
}

// isHost tells host consumers (absolute paths) from compose services.
func isHost(consumer string) bool { return len(consumer) > 0 && consumer[0] == '/' }

// orDefault is d, or def when d is not set.
func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}
