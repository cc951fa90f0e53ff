// Package providertest is the conformance suite every credential server driver passes on its real server:
// the dual-validity window, idempotence, rollback, refusal before any change, and no value ever in argv or
// errors, with the server's own count of authentication failures as the judge.
package providertest

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rekeyhq/rekey/provider"
)

// Server is the real server under test, reached independently of the driver.
type Server interface {
	// Login tries value as the rotated login, with the server's own client.
	Login(ctx context.Context, value string) error
	// AuthFailures is the number of failed logins the server itself recorded so far.
	AuthFailures(ctx context.Context) (int, error)
}

// Harness is what a driver's test gives the suite.
type Harness struct {
	Server  Server
	Exec    provider.Exec // reaches the server's container; the suite records every argv
	Initial string        // the value the login holds at the start
	// New returns the driver under test, configured correctly, using exec.
	New func(exec provider.Exec) provider.Provider
	// Bad returns drivers configured wrongly (wrong admin password, unknown user, missing privilege…):
	// each must fail Check and change nothing.
	Bad map[string]func(exec provider.Exec) provider.Provider
	// Invariant, when set, checks driver-specific state after every rotation (grants, ownership).
	Invariant func(t *testing.T)
	// Stop makes the server unreachable; the last test then expects Check to fail. Optional.
	Stop func(t *testing.T)
	// Restart restarts the server's container in place, as `docker restart` does (optional; restart.go).
	// It may return before the server answers.
	Restart func(t *testing.T)
	// Bootstrap, for a server whose password comes from its configuration (requirepass from the
	// container's environment), makes value the password it boots with and recreates it, as rekey does
	// with the server's service once the sources hold the new value. Nil for servers keeping their users.
	Bootstrap func(t *testing.T, value string)
}

// recorder keeps the argv of every exec.
type recorder struct {
	next provider.Exec
	mu   sync.Mutex
	argv [][]string
}

func (r *recorder) Exec(ctx context.Context, cmd []string, stdin []byte) (int, []byte, error) {
	r.mu.Lock()
	r.argv = append(r.argv, slices.Clone(cmd))
	r.mu.Unlock()
	return r.next.Exec(ctx, cmd, stdin)
}

type suite struct {
	h   Harness
	rec *recorder
	p   provider.Provider
	values
	logins map[string]string // value → login Stage named
}

// Run runs the suite. Subtests depend on each other's end state and run in order.
func Run(t *testing.T, h Harness) {
	rec := &recorder{next: h.Exec}
	s := &suite{h: h, rec: rec, p: h.New(rec), values: values{prefix: "rk", seen: []string{h.Initial}}, logins: map[string]string{}}
	ctx := context.Background()
	base, err := h.Server.AuthFailures(ctx)
	if err != nil {
		t.Fatalf("failed to read the server's authentication failures: %v", err)
	}
	cur := h.Initial
	t.Run("check", func(t *testing.T) { s.check(t, cur) })
	t.Run("bad-config", func(t *testing.T) { s.badConfig(t, cur) })
	t.Run("rotate", func(t *testing.T) { cur = s.rotate(t, cur) })
	t.Run("idempotent", func(t *testing.T) { cur = s.idempotent(t, cur) })
	t.Run("rollback", func(t *testing.T) { s.rollback(t, cur) })
	t.Run("several-rotations", func(t *testing.T) {
		for range 3 {
			cur = s.rotate(t, cur)
		}
	})
	t.Run("no-unexpected-auth-failures", func(t *testing.T) {
		got, err := h.Server.AuthFailures(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got-base != s.failures {
			t.Errorf("the server recorded %d authentication failures, the suite caused %d on purpose", got-base, s.failures)
		}
	})
	if h.Restart != nil {
		// After the failure count: a restarted server may forget it (Redis keeps ACL LOG in memory).
		t.Run("restarts", func(t *testing.T) { cur = s.restarts(t, cur) })
	}
	t.Run("values-never-in-argv", func(t *testing.T) { s.argv(t) })
	if h.Stop != nil {
		t.Run("server-down", func(t *testing.T) {
			h.Stop(t)
			if err := s.p.Check(ctx, cur); err == nil {
				t.Error("Check passed with the server down")
			} else {
				s.clean(t, err)
				t.Logf("server down: %v", err)
			}
		})
	}
}

func (s *suite) mustLogin(t *testing.T, v, what string) {
	t.Helper()
	if err := s.h.Server.Login(s.ctx(t), v); err != nil {
		t.Errorf("%s does not log in: %v", what, err)
	}
}

func (s *suite) mustNotLogin(t *testing.T, v, what string) {
	t.Helper()
	s.failures++
	if err := s.h.Server.Login(s.ctx(t), v); err == nil {
		t.Errorf("%s still logs in", what)
	}
}

func (s *suite) check(t *testing.T, cur string) {
	ctx := s.ctx(t)
	s.ok(t, "Check with the current value", s.p.Check(ctx, cur))
	wrong := s.value()
	s.failures++ // the driver tries the wrong value
	err := s.p.Check(ctx, wrong)
	if err == nil {
		t.Fatal("Check passed with a value the server rejects")
	}
	s.clean(t, err)
	t.Logf("wrong current value: %v", err)
	s.mustLogin(t, cur, "the current value after a failed check")
	s.mustNotLogin(t, wrong, "the rejected value")
}

func (s *suite) badConfig(t *testing.T, cur string) {
	for name, bad := range s.h.Bad {
		t.Run(name, func(t *testing.T) {
			before, _ := s.h.Server.AuthFailures(context.Background())
			err := bad(s.rec).Check(s.ctx(t), cur)
			if err == nil {
				t.Fatal("Check passed")
			}
			s.clean(t, err)
			t.Logf("%s: %v", name, err)
			after, _ := s.h.Server.AuthFailures(context.Background())
			s.failures += after - before // a wrong admin password is a failed login, on purpose
			s.mustLogin(t, cur, "the current value")
		})
	}
}

// rotate runs a full rotation with the checks of every step, and returns the new value.
func (s *suite) rotate(t *testing.T, cur string) string {
	ctx := s.ctx(t)
	next := s.value()
	s.ok(t, "Check", s.p.Check(ctx, cur))
	s.mustNotLogin(t, next, "the next value before Stage")
	s.stage(t, cur, next)
	s.mustLogin(t, cur, "the old value after Stage")
	s.mustLogin(t, next, "the new value after Stage")
	s.ok(t, "Verify", s.p.Verify(ctx, next))
	s.ok(t, "Drain", s.p.Drain(ctx, next))
	s.ok(t, "Revoke", s.p.Revoke(ctx, next))
	s.mustNotLogin(t, cur, "the old value after Revoke")
	s.mustLogin(t, next, "the new value after Revoke")
	s.ok(t, "Check after the rotation", s.p.Check(ctx, next))
	if s.h.Invariant != nil {
		s.h.Invariant(t)
	}
	return next
}

// idempotent repeats every step, as a resumed transaction does.
func (s *suite) idempotent(t *testing.T, cur string) string {
	ctx := s.ctx(t)
	next := s.value()
	s.stage(t, cur, next)
	s.stage(t, cur, next)
	s.mustLogin(t, cur, "the old value after Stage twice")
	s.mustLogin(t, next, "the new value after Stage twice")
	s.ok(t, "Revoke", s.p.Revoke(ctx, next))
	s.ok(t, "Revoke again", s.p.Revoke(ctx, next))
	s.mustNotLogin(t, cur, "the old value after Revoke twice")
	s.mustLogin(t, next, "the new value after Revoke twice")
	return next
}

// rollback stages a value and takes it back: the old value must be the only one left.
func (s *suite) rollback(t *testing.T, cur string) {
	ctx := s.ctx(t)
	next := s.value()
	s.stage(t, cur, next)
	s.ok(t, "Unstage", s.p.Unstage(ctx, cur, next))
	s.ok(t, "Unstage again", s.p.Unstage(ctx, cur, next))
	s.mustLogin(t, cur, "the old value after Unstage")
	s.mustNotLogin(t, next, "the unstaged value")
	s.failures++
	if err := s.p.Verify(ctx, next); err == nil {
		t.Error("Verify passed for the unstaged value")
	} else {
		s.clean(t, err)
	}
	// Unstage without knowing the new value (a recovery after Git moved on).
	next = s.value()
	s.stage(t, cur, next)
	s.ok(t, "Unstage with the new value unknown", s.p.Unstage(ctx, cur, ""))
	s.mustLogin(t, cur, "the old value after Unstage")
	s.mustNotLogin(t, next, "the unstaged value")
	if s.h.Invariant != nil {
		s.h.Invariant(t)
	}
}

// stage stages next; a driver that alternates logins must name the same login every time for one value.
func (s *suite) stage(t *testing.T, cur, next string) {
	t.Helper()
	login, err := s.p.Stage(s.ctx(t), cur, next)
	s.ok(t, "Stage", err)
	if prev, ok := s.logins[next]; ok && prev != login {
		t.Errorf("Stage named login %q, then %q for the same value", prev, login)
	}
	s.logins[next] = login
}

func (s *suite) argv(t *testing.T) {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	if len(s.rec.argv) == 0 {
		t.Fatal("the driver never ran a command through Exec")
	}
	for _, a := range s.rec.argv {
		joined := strings.Join(a, " ")
		for _, v := range s.seen {
			if strings.Contains(joined, v) {
				t.Errorf("a value reached argv: %q", a[0])
			}
		}
	}
}
