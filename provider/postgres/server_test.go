package postgres

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
)

// holdSession opens a session as shop_a that sleeps for the given seconds, and waits until the server
// lists it.
func holdSession(ctx context.Context, t *testing.T, srv *server, seconds int) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := srv.as(ctx, "shop_a", initial, "held-consumer", "select pg_sleep("+strconv.Itoa(seconds)+")")
		done <- err
	}()
	for i := 0; ; i++ {
		if srv.mustSQL(t, "SELECT count(*) FROM pg_stat_activity WHERE usename = 'shop_a' AND application_name = 'held-consumer'") == "1" {
			return done
		}
		if i == 100 {
			t.Fatal("the held session never showed up in pg_stat_activity")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestDrain holds a session open as the old login role: Drain waits for sessions that end, fails with a
// clear message for one that does not, and with terminate ends it.
func TestDrain(t *testing.T) {
	t.Parallel()
	_, srv := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const next = "drain next 'pw' é"
	d := New("db", srv.exec, WithOwner("shop"), WithPoll(100*time.Millisecond), WithDrainTimeout(10*time.Second))
	if err := d.Check(ctx, initial); err != nil {
		t.Fatal(err)
	}
	if login, err := d.Stage(ctx, initial, next); err != nil || login != "shop_b" {
		t.Fatalf("Stage = %q, %v; want shop_b", login, err)
	}
	if err := d.Verify(ctx, next); err != nil {
		t.Fatal(err)
	}

	hold := func(seconds int) <-chan error { t.Helper(); return holdSession(ctx, t, srv, seconds) }
	sessions := func() string {
		return srv.mustSQL(t, "SELECT count(*) FROM pg_stat_activity WHERE usename = 'shop_a'")
	}

	t.Run("waits for a session that ends", func(t *testing.T) {
		done := hold(2)
		start := time.Now()
		if err := d.Drain(ctx, next); err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el < 500*time.Millisecond {
			t.Errorf("Drain returned after %v, before the session ended", el)
		}
		if err := <-done; err != nil {
			t.Errorf("the session that ended by itself failed: %v", err)
		}
	})

	t.Run("fails for a session that stays", func(t *testing.T) {
		done := hold(120)
		short := New("db", srv.exec, WithOwner("shop"), WithPoll(100*time.Millisecond), WithDrainTimeout(1500*time.Millisecond))
		start := time.Now()
		err := short.Drain(ctx, next)
		el := time.Since(start)
		if err == nil {
			t.Fatal("Drain passed with a session of the old login role open")
		}
		t.Logf("Drain: %v (after %v)", err, el.Round(time.Millisecond))
		if el < 1500*time.Millisecond || el > 10*time.Second {
			t.Errorf("Drain gave up after %v, want about 1.5s", el)
		}
		for _, want := range []string{"postgres db: ", "1 session(s)", "shop_a", `application "held-consumer"`, "from 127.0.0.1", "roll the consumers", "terminate: true"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("the error does not say %q", want)
			}
		}
		if strings.Contains(err.Error(), initial) || strings.Contains(err.Error(), next) {
			t.Error("the error carries a value")
		}
		if sessions() != "1" {
			t.Error("Drain without terminate ended the session")
		}

		term := New("db", srv.exec, WithOwner("shop"), WithPoll(100*time.Millisecond), WithDrainTimeout(500*time.Millisecond), WithTerminate(true))
		if err := term.Drain(ctx, next); err != nil {
			t.Fatalf("Drain with terminate: %v", err)
		}
		if n := sessions(); n != "0" {
			t.Errorf("%s sessions of shop_a left after Drain with terminate", n)
		}
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "terminating connection") {
				t.Errorf("the held session ended with %v, want it terminated", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the held psql is still running")
		}
	})

	if err := d.Revoke(ctx, next); err != nil {
		t.Fatal(err)
	}
	if err := d.Check(ctx, next); err != nil {
		t.Fatal(err)
	}
}

// TestVerifiersAgainstServer checks rekey's SCRAM and SASLprep against the real server both ways: the
// verifier the server computes from a plaintext password (test only) accepts exactly that password
// locally, and the verifier rekey computes logs in through libpq, which applies its own SASLprep.
func TestVerifiersAgainstServer(t *testing.T) {
	t.Parallel()
	_, srv := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	srv.mustSQL(t, "CREATE ROLE probe LOGIN")
	stored := func() string { return srv.mustSQL(t, "SELECT rolpassword FROM pg_authid WHERE rolname = 'probe'") }

	for _, c := range []struct {
		name, pw string
		alike    []string // spellings SASLprep makes the same password
	}{
		{"ascii", "x", nil},
		{"quotes and backslashes", `q'"\ $x;`, nil},
		{"latin", "pässwörd", []string{"pa\u0308sswo\u0308rd"}},
		{"no-break space", "a\u00a0b", []string{"a b", "a\u2003b"}},
		{"ligature", "\ufb01le", []string{"file"}},
		{"soft hyphen", "soft\u00adhyphen", []string{"softhyphen"}},
		{"control character: raw", "é\x01", nil},
		{"bidi violation: raw", "\u05d0a\u05d1", nil},
		{"right-to-left", "\u05d0\u05d1", nil},
		{"unassigned in Unicode 3.2: raw", "é\U0001F600", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv.mustSQL(t, "SET password_encryption = 'scram-sha-256'; ALTER ROLE probe PASSWORD "+literal(c.pw))
			v := stored()
			if p, ok := parseVerifier(v); !ok || p.iterations != scramIterations || len(p.salt) != scramSaltLen {
				t.Fatalf("the server's verifier does not parse as rekey's would (%v)", ok)
			}
			if !accepts(v, "probe", c.pw) {
				t.Error("the server's verifier does not accept its password")
			}
			if accepts(v, "probe", c.pw+"y") || accepts(v, "probe", "y") {
				t.Error("the server's verifier accepts another password")
			}
			for _, a := range c.alike {
				if !accepts(v, "probe", a) {
					t.Errorf("the server's verifier does not accept the equivalent spelling %+q", a)
				}
			}

			mine, err := newVerifier(c.pw)
			if err != nil {
				t.Fatal(err)
			}
			srv.mustSQL(t, "ALTER ROLE probe PASSWORD "+literal(mine))
			if got := stored(); got != mine {
				t.Fatal("the server did not store rekey's verifier as it is")
			}
			for _, pw := range append([]string{c.pw}, c.alike...) {
				if _, err := srv.as(ctx, "probe", pw, "harness", "select 1"); err != nil {
					t.Errorf("libpq does not log in with %+q against rekey's verifier: %v", pw, err)
				}
			}
		})
	}

	t.Run("md5", func(t *testing.T) {
		srv.mustSQL(t, "SET password_encryption = 'md5'; ALTER ROLE probe PASSWORD 'md5 pw'")
		v := stored()
		if !strings.HasPrefix(v, "md5") {
			t.Fatalf("not an md5 hash: %.3s…", v)
		}
		if !accepts(v, "probe", "md5 pw") || accepts(v, "probe", "md5 pW") {
			t.Error("the md5 hash check is wrong")
		}
	})
}

// TestLayoutErrors breaks the layout one piece at a time: Check names the piece and the SQL to fix it,
// and Stage, Revoke and Unstage refuse to touch a server whose state they cannot account for.
func TestLayoutErrors(t *testing.T) {
	t.Parallel()
	_, srv := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	d := New("db", srv.exec, WithOwner("shop"))
	mustFail := func(t *testing.T, err error, wants ...string) {
		t.Helper()
		if err == nil {
			t.Fatal("passed")
		}
		t.Logf("%v", err)
		for _, w := range wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("the error does not say %q", w)
			}
		}
		if strings.Contains(err.Error(), initial) || strings.Contains(err.Error(), "SCRAM-SHA-256$") {
			t.Error("the error carries a value or a verifier")
		}
	}
	layout := func() string {
		return srv.mustSQL(t, "SELECT string_agg(rolname || ':' || rolcanlogin || ':' || coalesce(rolpassword, '-'), ',' ORDER BY rolname) FROM pg_authid WHERE rolname LIKE 'shop%'")
	}
	before := layout()

	t.Run("missing login role", func(t *testing.T) {
		mustFail(t, New("db", srv.exec, WithOwner("shop"), WithLogins("shop_a", "shop_z")).Check(ctx, initial),
			`login role shop_z does not exist`, `CREATE ROLE "shop_z" NOLOGIN IN ROLE "shop"; ALTER ROLE "shop_z" SET role = 'shop';`)
	})
	t.Run("owner can log in", func(t *testing.T) {
		srv.mustSQL(t, "ALTER ROLE shop LOGIN")
		defer srv.mustSQL(t, "ALTER ROLE shop NOLOGIN")
		mustFail(t, d.Check(ctx, initial), "owner role shop can log in", `ALTER ROLE "shop" NOLOGIN PASSWORD NULL;`)
		_, err := d.Stage(ctx, initial, "never staged")
		mustFail(t, err, "owner role shop can log in")
	})
	t.Run("no role setting", func(t *testing.T) {
		srv.mustSQL(t, "ALTER ROLE shop_b RESET role")
		defer srv.mustSQL(t, "ALTER ROLE shop_b SET role = 'shop'")
		mustFail(t, d.Check(ctx, initial), "shop_b does not act as shop", `ALTER ROLE "shop_b" SET role = 'shop';`)
	})
	t.Run("role setting for the database", func(t *testing.T) {
		srv.mustSQL(t, "ALTER ROLE shop_b IN DATABASE shop SET role = 'shop_c'")
		defer srv.mustSQL(t, "ALTER ROLE shop_b IN DATABASE shop RESET role")
		mustFail(t, d.Check(ctx, initial), "shop_b acts as shop_c in database shop", `ALTER ROLE "shop_b" IN DATABASE "shop" RESET role;`)
	})
	t.Run("wrong current value changes nothing", func(t *testing.T) {
		_, err := d.Stage(ctx, "not the current value", "never staged")
		mustFail(t, err, "neither shop_a nor shop_b")
		mustFail(t, d.Revoke(ctx, "never staged"), "neither shop_a nor shop_b", "changed nothing")
		mustFail(t, d.Unstage(ctx, "not the current value", ""), "neither shop_a nor shop_b", "changed nothing")
	})
	if got := layout(); got != before {
		t.Fatalf("the failed calls changed the login roles:\n%s\n%s", before, got)
	}
	t.Run("both can log in", func(t *testing.T) {
		if _, err := d.Stage(ctx, initial, "staged value"); err != nil {
			t.Fatal(err)
		}
		mustFail(t, d.Check(ctx, initial), "both login roles can log in", `ALTER ROLE "shop_b" NOLOGIN PASSWORD NULL;`)
		if err := d.Unstage(ctx, initial, ""); err != nil {
			t.Fatal(err)
		}
		if err := d.Check(ctx, initial); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("stage of the active value", func(t *testing.T) {
		login, err := d.Stage(ctx, initial, initial)
		if err != nil || login != "shop_a" {
			t.Fatalf("Stage(current, current) = %q, %v; want shop_a and no change", login, err)
		}
	})
}
