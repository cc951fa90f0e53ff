package providertest

import (
	"context"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/reconcile"
)

// Restarts: a server restarted at any point of its part of a rotation (a crash, an OOM kill, `docker
// restart`, a reboot) must let the transaction finish. The executor asks the driver (reconcile.Prober)
// which value the server accepts, stages the new value again with the old one when the server came back
// without it, and otherwise runs every step again: each must succeed when the server is already in the
// step's state. A server that keeps its users (on disk, in an aclfile) keeps them across the restart; one
// whose password comes from its configuration boots on the value of its sources, which the executor
// recreates it from once they hold the new value (Harness.Bootstrap).

// restarts rotates once with a restart after stage, before revoke and after revoke, then rolls a staged
// value back across a restart; it returns the new value.
func (s *suite) restarts(t *testing.T, cur string) string {
	ctx := s.ctx(t)
	if s.h.Bootstrap != nil {
		s.h.Bootstrap(t, cur) // the sources hold cur, as after a finished rotation
	}
	next := s.value()
	s.stage(t, cur, next)
	s.h.Restart(t)
	s.heal(t, cur, next, "after Stage")
	s.mustLogin(t, cur, "the old value after a restart after Stage")
	s.mustLogin(t, next, "the new value after a restart after Stage")
	s.ok(t, "Verify after a restart", s.p.Verify(ctx, next))
	s.ok(t, "Drain after a restart", s.p.Drain(ctx, next))

	s.h.Restart(t)
	s.heal(t, cur, next, "before Revoke")
	s.ok(t, "Revoke after a restart", s.p.Revoke(ctx, next))
	s.h.Restart(t)
	if s.h.Bootstrap != nil {
		s.h.Bootstrap(t, next) // the server's service recreated from the sources, which hold next
	}
	s.waitAnswers(t, next)
	s.ok(t, "Revoke again after a restart", s.p.Revoke(ctx, next))
	s.mustNotLogin(t, cur, "the old value after Revoke and a restart")
	s.mustLogin(t, next, "the new value after Revoke and a restart")
	s.ok(t, "Check after the rotation", s.p.Check(ctx, next))

	// A rollback across a restart: Unstage finds the server on its bootstrap state or on both values.
	doomed := s.value()
	s.stage(t, next, doomed)
	s.h.Restart(t)
	s.waitAnswers(t, next)
	s.ok(t, "Unstage after a restart", s.p.Unstage(ctx, next, doomed))
	s.ok(t, "Unstage again", s.p.Unstage(ctx, next, doomed))
	s.mustLogin(t, next, "the old value after Unstage across a restart")
	s.mustNotLogin(t, doomed, "the unstaged value after a restart")
	if s.h.Invariant != nil {
		s.h.Invariant(t)
	}
	return next
}

// heal is what the executor does after a restart: find which value the server accepts (the new one,
// then the old one) and, if it lost the new one, stage it again logging in with the old one.
func (s *suite) heal(t *testing.T, cur, next, when string) {
	t.Helper()
	p := s.prober(t)
	ok := s.waitAnswers(t, next)
	if ok {
		return
	}
	s.failures++ // the probe of the new value failed to log in
	old, err := p.Accepts(s.ctx(t), cur)
	if err != nil || !old {
		t.Fatalf("%s: the server accepts neither the new value nor the old one (%v): nothing to stage again with", when, err)
	}
	t.Logf("%s: the restarted server lost the new value; staging it again", when)
	s.stage(t, cur, next)
}

// waitAnswers probes v until the server answers (it may still be starting), and returns whether v logs in.
func (s *suite) waitAnswers(t *testing.T, v string) bool {
	t.Helper()
	p := s.prober(t)
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		ok, err := p.Accepts(ctx, v)
		cancel()
		if err == nil {
			return ok
		}
		s.clean(t, err)
		if time.Now().After(deadline) {
			t.Fatalf("the server does not answer a minute after the restart: %v", err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (s *suite) prober(t *testing.T) reconcile.Prober {
	t.Helper()
	p, ok := s.p.(reconcile.Prober)
	if !ok {
		t.Fatalf("%T is not a reconcile.Prober: rekey could not tell which value a restarted server accepts", s.p)
	}
	return p
}
