package live

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rekeyhq/rekey/dockerio"
)

// StartFirst is how one service rolls start-first.
type StartFirst struct {
	// Replicas is the number of containers compose's model asks for (deploy.replicas or scale), 0 when
	// it names none: then the roll keeps as many as were running.
	Replicas int
	// DrainExec runs in the old container once its replacement is healthy, before it is stopped (tell
	// the app to fail its health check, deregister it from a proxy); a non-zero exit fails the roll
	// while the old container still serves.
	DrainExec []string
	// DrainWait is how long the old container keeps running after that, for the proxy to notice.
	DrainWait time.Duration
}

// replicaEngine is what a start-first roll needs of the Docker engine.
type replicaEngine interface {
	Replicas(ctx context.Context, project, service string) ([]dockerio.Replica, error)
	WaitReplicaHealthy(ctx context.Context, id string, timeout time.Duration) error
	Exec(ctx context.Context, id string, cmd []string, stdin []byte) (int, []byte, error)
	Stop(ctx context.Context, id string, timeout time.Duration) error
	Remove(ctx context.Context, id string) error
}

// replicaCompose is what a start-first roll needs of the Compose CLI.
type replicaCompose interface {
	ConfigHash(ctx context.Context, service string) (string, error)
	ScaleUp(ctx context.Context, service string, replicas int) error
	Up(ctx context.Context, services ...string) error
}

// startFirst replaces the containers of a service that run an older configuration, one at a time: a
// container with the current one is started by Compose beside them, waited for until healthy, then one
// old container is drained, stopped (its stop_signal, its stop_grace_period) and removed. The service
// never has fewer healthy containers than before.
//
// It converges rather than counts: containers already on the current configuration are kept, so the
// same call finishes a roll that was interrupted, and, after a rollback restored the old sources, removes
// the new container while the old one — now the current configuration again — keeps its ID.
type startFirst struct {
	engine  replicaEngine
	compose replicaCompose
	project string
	health  time.Duration
	trace   RollTrace
}

func (r startFirst) roll(ctx context.Context, service string, spec StartFirst) error {
	began := time.Now()
	target, err := r.compose.ConfigHash(ctx, service)
	if err != nil {
		return err
	}
	r.trace.since(service, "config-hash", began)
	all, err := r.engine.Replicas(ctx, r.project, service)
	if err != nil {
		return err
	}
	fresh, stale, stopped := split(all, target)
	if len(fresh)+len(stale) == 0 {
		return r.compose.Up(ctx, service) // nothing serves: nothing to keep serving
	}
	want := wanted(spec.Replicas, len(fresh), len(stale))
	total := len(all)
	var started []string
	for len(stale) > 0 {
		if len(fresh) < want {
			id, err := r.startOne(ctx, service, total+1, all)
			if err != nil {
				return err
			}
			fresh, started, total = append(fresh, id), append(started, id), total+1
		}
		old := stale[len(stale)-1] // the highest number first, as compose scales down
		if err := r.retire(ctx, service, old, spec); err != nil {
			return err
		}
		stale, total = stale[:len(stale)-1], total-1
		all = nil // changed: startOne lists them again
	}
	for _, s := range stopped { // an old, stopped container would make `compose up` recreate
		if err := r.engine.Remove(ctx, s.ID); err != nil {
			return err
		}
	}
	r.traceTimelines(ctx, service, started) // after the roll: the trace's inspects do not delay it
	return nil
}

// split sorts a service's containers: running on the target configuration, running on another one, and
// stopped on another one (stopped ones on the target are compose's to start).
func split(all []dockerio.Replica, target string) (fresh []string, stale, stopped []dockerio.Replica) {
	for _, c := range all {
		switch {
		case c.ConfigHash == target && c.Running:
			fresh = append(fresh, c.ID)
		case c.ConfigHash == target:
		case c.Running:
			stale = append(stale, c)
		default:
			stopped = append(stopped, c)
		}
	}
	return fresh, stale, stopped
}

// wanted is the number of containers the roll ends with: compose's model when it names one, else as
// many as ran on either configuration (a roll resumed after a crash finds old and new side by side and
// keeps the larger group).
func wanted(replicas, fresh, stale int) int {
	if replicas > 0 {
		return replicas
	}
	return max(fresh, stale, 1)
}

// startOne has Compose start one more container of service and waits until it is healthy. On failure
// the new container is removed: the old ones never noticed. before is the service's containers when
// they were last listed, nil when they may have changed since.
func (r startFirst) startOne(ctx context.Context, service string, scale int, before []dockerio.Replica) (string, error) {
	if before == nil {
		var err error
		if before, err = r.engine.Replicas(ctx, r.project, service); err != nil {
			return "", err
		}
	}
	began := time.Now()
	upErr := r.compose.ScaleUp(ctx, service, scale)
	r.trace.since(service, "scale-up", began)
	after, err := r.engine.Replicas(ctx, r.project, service)
	if err != nil {
		return "", errors.Join(upErr, err)
	}
	added := newReplicas(before, after)
	if upErr == nil && len(added) != 1 {
		upErr = fmt.Errorf("compose started %d containers of %s, want 1", len(added), service)
	}
	if upErr == nil {
		began = time.Now()
		if err := r.engine.WaitReplicaHealthy(ctx, added[0].ID, r.health); err != nil {
			upErr = fmt.Errorf("the new container of %s did not become healthy: %w", service, err)
		}
		r.trace.since(service, "healthy", began)
	}
	if upErr == nil {
		return added[0].ID, nil
	}
	cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	for _, c := range added {
		if err := r.engine.Remove(cleanup, c.ID); err != nil {
			return "", errors.Join(upErr, err)
		}
	}
	return "", upErr
}

// retire drains, stops and removes one old container.
func (r startFirst) retire(ctx context.Context, service string, old dockerio.Replica, spec StartFirst) error {
	began := time.Now()
	if len(spec.DrainExec) > 0 {
		code, _, err := r.engine.Exec(ctx, old.ID, spec.DrainExec, nil)
		if err == nil && code != 0 {
			err = fmt.Errorf("exit code %d", code)
		}
		if err != nil {
			return fmt.Errorf("failed to drain %s (%s) of %s: %w", old.Name, spec.DrainExec[0], service, err)
		}
		r.trace.since(service, "drain-exec", began)
	}
	if spec.DrainWait > 0 {
		began = time.Now()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(spec.DrainWait):
		}
		r.trace.since(service, "drain-wait", began)
	}
	// -1: the container's own stop timeout, which compose set from stop_grace_period; the engine sends
	// the container's stop signal (stop_signal).
	began = time.Now()
	if err := r.engine.Stop(ctx, old.ID, -1); err != nil {
		return err
	}
	r.trace.since(service, "stop-old", began)
	began = time.Now()
	if err := r.engine.Remove(ctx, old.ID); err != nil {
		return err
	}
	r.trace.since(service, "remove-old", began)
	return nil
}

func newReplicas(before, after []dockerio.Replica) []dockerio.Replica {
	seen := map[string]bool{}
	for _, c := range before {
		seen[c.ID] = true
	}
	var out []dockerio.Replica
	for _, c := range after {
		if !seen[c.ID] {
			out = append(out, c)
		}
	}
	return out
}

// startFirst is the start-first roller of one service of the stack.
func (s *Stack) startFirst() startFirst {
	return startFirst{engine: s.Engine, compose: s.rollCompose(), project: s.Compose.Project, health: orDefault(s.HealthTimeout, time.Minute),
		trace: s.Trace}
}
