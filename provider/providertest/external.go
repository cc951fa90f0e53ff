package providertest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/provider"
	"github.com/rekeyhq/rekey/reconcile"
)

// ExternalHarness is what the test of a driver for external credentials gives RunExternal: credentials
// rekey can neither create nor revoke (an SMTP relay's or a third-party API's key), which the operator
// creates and revokes at the provider. The harness plays the operator.
type ExternalHarness struct {
	// Provider returns the driver under test, configured correctly.
	Provider func() provider.Provider
	// Initial is the value that logs in at the start.
	Initial string
	// Create makes the provider accept value as well, as the operator does in its dashboard.
	Create func(t *testing.T, value string)
	// Revoke makes the provider reject value, as the operator does in its dashboard.
	Revoke func(t *testing.T, value string)
	// AuthFailures is the number of failed logins the provider itself recorded so far.
	AuthFailures func(ctx context.Context) (int, error)
}

type external struct {
	h     ExternalHarness
	p     provider.Provider
	probe reconcile.Prober
	values
}

// RunExternal runs the conformance suite for external credentials: Check, Stage and Verify only prove
// that a value logs in and change nothing; Stage refuses a value the operator has not created yet;
// Revoke leaves the revocation to the operator (reconcile.ErrRevokeByHand); the driver is a
// reconcile.Prober that sees the operator's revocation. Subtests depend on each other's end state and run
// in order.
func RunExternal(t *testing.T, h ExternalHarness) {
	s := &external{h: h, p: h.Provider(), values: values{prefix: "rkx", seen: []string{h.Initial}}}
	probe, ok := s.p.(reconcile.Prober)
	if !ok {
		t.Fatalf("%T is not a reconcile.Prober: rekey could not follow the pending revocation of an external credential", s.p)
	}
	s.probe = probe
	ctx := context.Background()
	base, err := h.AuthFailures(ctx)
	if err != nil {
		t.Fatalf("failed to read the provider's authentication failures: %v", err)
	}
	cur := h.Initial
	t.Run("check", func(t *testing.T) { s.check(t, cur) })
	t.Run("stage-before-create", func(t *testing.T) { s.stageBeforeCreate(t, cur) })
	t.Run("rotate", func(t *testing.T) { cur = s.rotate(t, cur) })
	t.Run("rollback", func(t *testing.T) { s.rollback(t, cur) })
	t.Run("several-rotations", func(t *testing.T) {
		for range 3 {
			cur = s.rotate(t, cur)
		}
	})
	t.Run("no-unexpected-auth-failures", func(t *testing.T) {
		// A provider may record a failure a moment after it answered: wait for missing ones, not for more.
		var got int
		for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			n, err := h.AuthFailures(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got = n - base
			if got >= s.failures || time.Now().After(deadline) {
				break
			}
		}
		if got != s.failures {
			t.Errorf("the provider recorded %d authentication failures, the suite caused %d on purpose", got, s.failures)
		}
	})
}

// rejected expects err to wrap provider.ErrRejected: one failed login on purpose.
func (s *external) rejected(t *testing.T, what string, err error) {
	t.Helper()
	s.failures++
	if err == nil {
		t.Fatalf("%s passed", what)
	}
	s.clean(t, err)
	if !errors.Is(err, provider.ErrRejected) {
		t.Errorf("%s: the error does not wrap provider.ErrRejected: %v", what, err)
	}
	t.Logf("%s: %v", what, err)
}

// accepts expects the driver's probe to say whether v logs in; a rejection is a failed login on purpose.
func (s *external) accepts(t *testing.T, v string, want bool, what string) {
	t.Helper()
	if !want {
		s.failures++
	}
	got, err := s.probe.Accepts(s.ctx(t), v)
	if err != nil {
		s.clean(t, err)
		t.Fatalf("Accepts(%s): %v", what, err)
	}
	if got != want {
		t.Errorf("Accepts(%s) = %v, want %v", what, got, want)
	}
}

func (s *external) check(t *testing.T, cur string) {
	ctx := s.ctx(t)
	s.ok(t, "Check with the current value", s.p.Check(ctx, cur))
	wrong := s.value()
	s.rejected(t, "Check with a value the provider rejects", s.p.Check(ctx, wrong))
	s.ok(t, "Check with the current value after a failed check", s.p.Check(ctx, cur))
	s.accepts(t, cur, true, "the current value")
	s.accepts(t, wrong, false, "the rejected value")
}

// stageBeforeCreate stages a value the operator has not created: rekey cannot create it, and says so.
func (s *external) stageBeforeCreate(t *testing.T, cur string) {
	ctx := s.ctx(t)
	next := s.value()
	_, err := s.p.Stage(ctx, cur, next)
	s.rejected(t, "Stage before the value was created at the provider", err)
	if err != nil && !(strings.Contains(err.Error(), "create") && strings.Contains(err.Error(), "first")) {
		t.Errorf("Stage's error does not tell to create the credential at the provider first: %v", err)
	}
	s.rejected(t, "Verify before the value was created at the provider", s.p.Verify(ctx, next))
	s.accepts(t, cur, true, "the current value after a refused Stage")
	s.h.Create(t, next)
	s.stage(t, cur, next)
	s.ok(t, "Verify once created", s.p.Verify(ctx, next))
	// Leave the provider as it was: the operator deletes the key nobody committed.
	s.h.Revoke(t, next)
	s.accepts(t, next, false, "the deleted value")
}

// rotate runs a full rotation, with the operator creating the new value first and revoking the old one
// after rekey asked for it, and returns the new value.
func (s *external) rotate(t *testing.T, cur string) string {
	ctx := s.ctx(t)
	next := s.value()
	s.ok(t, "Check", s.p.Check(ctx, cur))
	s.accepts(t, next, false, "the next value before it is created")
	s.h.Create(t, next)
	s.stage(t, cur, next)
	s.stage(t, cur, next)
	s.accepts(t, cur, true, "the old value after Stage")
	s.accepts(t, next, true, "the new value after Stage")
	s.ok(t, "Verify", s.p.Verify(ctx, next))
	s.ok(t, "Drain", s.p.Drain(ctx, next))
	for _, what := range []string{"Revoke", "Revoke again"} {
		err := s.p.Revoke(ctx, next)
		if !errors.Is(err, reconcile.ErrRevokeByHand) {
			t.Fatalf("%s: want an error wrapping reconcile.ErrRevokeByHand, got %v", what, err)
		}
		s.clean(t, err)
		t.Logf("%s: %v", what, err)
	}
	// Until the operator revokes it, the old value works: a pending revocation.
	s.accepts(t, cur, true, "the old value after Revoke, before the operator revoked it")
	s.accepts(t, next, true, "the new value after Revoke")
	s.h.Revoke(t, cur)
	s.accepts(t, cur, false, "the old value once revoked at the provider")
	s.accepts(t, next, true, "the new value once the old one is revoked")
	s.ok(t, "Check after the rotation", s.p.Check(ctx, next))
	return next
}

// rollback stages a created value and takes it back: the driver cannot delete it, and must not fail.
func (s *external) rollback(t *testing.T, cur string) {
	ctx := s.ctx(t)
	next := s.value()
	s.h.Create(t, next)
	s.stage(t, cur, next)
	s.ok(t, "Unstage", s.p.Unstage(ctx, cur, next))
	s.ok(t, "Unstage again", s.p.Unstage(ctx, cur, next))
	s.ok(t, "Unstage with the new value unknown", s.p.Unstage(ctx, cur, ""))
	s.accepts(t, cur, true, "the old value after Unstage")
	s.ok(t, "Check after Unstage", s.p.Check(ctx, cur))
	s.h.Revoke(t, next)
}

// stage stages next, which the provider accepts already: Stage changes nothing and names no login.
func (s *external) stage(t *testing.T, cur, next string) {
	t.Helper()
	login, err := s.p.Stage(s.ctx(t), cur, next)
	s.ok(t, "Stage", err)
	if login != "" {
		t.Errorf("Stage named login %q: an external credential has one login", login)
	}
}
