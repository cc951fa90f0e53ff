package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// waitSessions waits until the server lists want sessions of role, and fails with what if it never does.
func waitSessions(t *testing.T, srv *server, role, want, what string) {
	t.Helper()
	for i := 0; srv.mustSQL(t, "SELECT count(*) FROM pg_stat_activity WHERE usename = '"+role+"'") != want; i++ {
		if i == 100 {
			t.Fatal(what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestAdopt converts a stack whose consumer logs in as the owner role itself: the first Adopt stages
// shop_a with the same password while the consumer stays connected, Adopt keeps refusing to take LOGIN
// from the owner while it is, and once the consumer moved the layout is complete and rotates.
func TestAdopt(t *testing.T) {
	t.Parallel()
	_, srv := startDir(t, "single")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const legacy = "legacy shop pw"
	d := New("db", srv.exec, WithOwner("shop"), WithPoll(100*time.Millisecond), WithDrainTimeout(5*time.Second))
	logins := func() string {
		return srv.mustSQL(t, "SELECT string_agg(rolname || ':' || rolcanlogin, ',' ORDER BY rolname) FROM pg_roles WHERE rolname LIKE 'shop%'")
	}
	logsIn := func(role, pw string) bool {
		_, err := srv.as(ctx, role, pw, "harness", "select 1")
		return err == nil
	}

	if err := d.Check(ctx, legacy); err == nil {
		t.Fatal("Check passed before Adopt")
	} else {
		t.Logf("Check before Adopt: %v", err)
	}
	if err := d.Adopt(ctx, "not the password"); err == nil || errors.Is(err, ErrAdoptPending) {
		t.Fatalf("Adopt with a wrong value: %v", err)
	}
	if got := logins(); got != "shop:true" {
		t.Fatalf("a failed Adopt changed the roles: %s", got)
	}

	// The consumer, connected as the owner.
	done := make(chan error, 1)
	go func() {
		_, err := srv.as(ctx, "shop", legacy, "old-consumer", "select pg_sleep(120)")
		done <- err
	}()
	waitSessions(t, srv, "shop", "1", "the consumer's session never showed up")

	err := d.Adopt(ctx, legacy)
	if !errors.Is(err, ErrAdoptPending) || !strings.Contains(err.Error(), "shop_a now logs in") {
		t.Fatalf("first Adopt: %v", err)
	}
	t.Logf("first Adopt: %v", err)
	if got := logins(); got != "shop:true,shop_a:true,shop_b:false" {
		t.Errorf("after the first Adopt: %s", got)
	}
	if !logsIn("shop", legacy) || !logsIn("shop_a", legacy) {
		t.Error("the owner and shop_a do not both log in with the current value")
	}

	err = d.Adopt(ctx, legacy)
	if !errors.Is(err, ErrAdoptPending) || !strings.Contains(err.Error(), `1 session(s) still logged in as shop (pid`) || !strings.Contains(err.Error(), `"old-consumer"`) {
		t.Fatalf("Adopt with the consumer still on the owner: %v", err)
	}
	t.Logf("second Adopt: %v", err)
	if strings.Contains(err.Error(), legacy) {
		t.Error("the error carries the value")
	}

	// The consumer moves (rolled: its session as the owner ends).
	srv.mustSQL(t, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'shop'")
	<-done
	waitSessions(t, srv, "shop", "0", "the consumer's session never ended")
	if err := d.Adopt(ctx, legacy); err != nil {
		t.Fatalf("Adopt after the consumer moved: %v", err)
	}
	if got := logins(); got != "shop:false,shop_a:true,shop_b:false" {
		t.Errorf("after Adopt: %s", got)
	}
	if err := d.Adopt(ctx, legacy); err != nil {
		t.Fatalf("Adopt again: %v", err)
	}

	// The adopted layout rotates, and the new login role shares the owner's tables.
	next := "after adopt é"
	if err := d.Check(ctx, legacy); err != nil {
		t.Fatal(err)
	}
	login, err := d.Stage(ctx, legacy, next)
	if err != nil || login != "shop_b" {
		t.Fatalf("Stage = %q, %v", login, err)
	}
	for _, step := range []func() error{
		func() error { return d.Verify(ctx, next) },
		func() error { return d.Drain(ctx, next) },
		func() error { return d.Revoke(ctx, next) },
		func() error { return d.Check(ctx, next) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	out, err := srv.as(ctx, "shop_b", next, "harness", "INSERT INTO orders VALUES (2); CREATE TABLE refunds (id int); SELECT tableowner FROM pg_tables WHERE tablename = 'refunds'")
	if err != nil || out != "shop" {
		t.Errorf("shop_b after the rotation: %q, %v; want the new table owned by shop", out, err)
	}
	if logsIn("shop", legacy) || logsIn("shop_a", legacy) {
		t.Error("the old value still logs in")
	}
}
