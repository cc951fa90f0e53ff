package live

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// removals are the old containers that start-first rolls stopped and are removing in the background.
// A stopped container serves nothing, so once its stop returned the roll is over; removing it (the
// engine releases its network endpoint and unmounts its file system) takes a while that nothing needs to
// wait for but the service's next roll and the end of the apply. Until then the health gate, the
// journal's container list and logs checks leave it out (Stack.Removing).
type removals struct {
	mu      sync.Mutex
	pending map[string]*removal // by container ID
	failed  []error
}

type removal struct {
	service string
	done    chan struct{}
}

// removeTimeout bounds one background removal.
const removeTimeout = time.Minute

// start removes container id of service in the background with remove, under a context of its own:
// the roll's ends when the roll returns.
func (r *removals) start(ctx context.Context, service, id string, remove func(context.Context, string) error) {
	m := &removal{service: service, done: make(chan struct{})}
	r.mu.Lock()
	if r.pending == nil {
		r.pending = map[string]*removal{}
	}
	r.pending[id] = m
	r.mu.Unlock()
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), removeTimeout)
	go func() {
		defer cancel()
		err := remove(bg, id)
		r.mu.Lock()
		delete(r.pending, id)
		if err != nil {
			r.failed = append(r.failed, fmt.Errorf("service %s: %w", service, err))
		}
		r.mu.Unlock()
		close(m.done)
	}()
}

// removing says whether container id is being removed.
func (r *removals) removing(id string) bool {
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.pending[id]
	return ok
}

// wait waits until the removals of service ("" for every service) have ended; failures are kept for
// settle.
func (r *removals) wait(ctx context.Context, service string) error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	var waits []chan struct{}
	for _, m := range r.pending {
		if service == "" || m.service == service {
			waits = append(waits, m.done)
		}
	}
	r.mu.Unlock()
	for _, done := range waits {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-done:
		}
	}
	return nil
}

// settle waits for every removal and returns those that failed since the last settle.
func (r *removals) settle(ctx context.Context) error {
	if err := r.wait(ctx, ""); err != nil || r == nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	err := errors.Join(r.failed...)
	r.failed = nil
	return err
}
