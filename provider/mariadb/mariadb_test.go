package mariadb_test

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/dockerio"
	"github.com/rekeyhq/rekey/internal/testenv"
	"github.com/rekeyhq/rekey/provider"
	"github.com/rekeyhq/rekey/provider/mariadb"
	"github.com/rekeyhq/rekey/provider/providertest"
)

const image = "rekey-demo/mariadb:dev"

// initial passwords, from testdata/server (.env and initdb/users.sql).
const (
	initialApp   = "initial-app-pw"
	initialChain = "initial-chain-pw"
)

func start(t *testing.T) (*testenv.Stack, provider.Exec) {
	testenv.RequireImages(t, image)
	st := testenv.NewStack(t, filepath.Join("testdata", "server"))
	st.Up(t)
	eng, err := dockerio.New(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return st, provider.Service{Engine: eng, Project: st.Name, Name: "mariadb"}
}

// root runs SQL as root over the socket with the harness's own client, never the driver's.
func root(t *testing.T, exec provider.Exec, sql string) string {
	t.Helper()
	code, out, err := exec.Exec(context.Background(), []string{"mariadb", "-uroot", "--batch", "--skip-column-names"}, []byte(sql))
	if err != nil || code != 0 {
		t.Fatalf("root SQL failed (exit %d): %v: %s", code, err, out)
	}
	return string(out)
}

// tryLogin logs in as user over TCP inside the container with the harness's own client; the value goes
// on stdin and into that one process's environment.
func tryLogin(ctx context.Context, exec provider.Exec, user, value string) error {
	const script = `IFS= read -r MYSQL_PWD; export MYSQL_PWD; exec mariadb -h 127.0.0.1 -u "$1" --batch --skip-column-names -e 'SELECT CURRENT_USER()'`
	code, out, err := exec.Exec(ctx, []string{"sh", "-c", script, "login", user}, []byte(value+"\n"))
	if err != nil {
		return err
	}
	if code != 0 {
		return errors.New(strings.TrimSpace(string(out)))
	}
	if got := strings.TrimSpace(string(out)); got != user+"@%" {
		return fmt.Errorf("logged in as %q, want %s@%%", got, user)
	}
	return nil
}

var deniedLine = regexp.MustCompile(`Access denied for user`)

// server is the MariaDB container, judged by its own log of failed logins.
type server struct {
	t     *testing.T
	st    *testenv.Stack
	exec  provider.Exec
	users []string // Login tries these in order; the first that logs in wins

	mu    sync.Mutex
	extra int // failed logins Login caused on users that were not the one holding the value
}

// Login tries value as each user in turn. With two users, a value held by the second first fails on the
// first, and a rejected value fails on both; those extra refusals are the harness's own probing, not
// failures the suite or the driver caused, and AuthFailures leaves them out.
func (s *server) Login(ctx context.Context, value string) error {
	var errs []error
	for i, u := range s.users {
		err := tryLogin(ctx, s.exec, u, value)
		if err == nil {
			s.mu.Lock()
			s.extra += i
			s.mu.Unlock()
			return nil
		}
		if !strings.Contains(err.Error(), "ERROR 1045") {
			return err // not a refusal the server logged
		}
		errs = append(errs, fmt.Errorf("%s: %w", u, err))
	}
	s.mu.Lock()
	s.extra += len(s.users) - 1
	s.mu.Unlock()
	return errors.Join(errs...)
}

// AuthFailures counts "Access denied for user" in the server's log, less the harness's extra probes.
func (s *server) AuthFailures(context.Context) (int, error) {
	n := len(deniedLine.FindAllString(s.st.Logs(s.t, "mariadb"), -1))
	s.mu.Lock()
	defer s.mu.Unlock()
	return n - s.extra, nil
}

// asOSUser runs every command as an OS user of the container (setpriv), so that the driver's admin login
// over the socket is that user's through unix_socket: how a test gets an admin without privileges, as
// rekey's own exec always runs as root.
type asOSUser struct {
	next        provider.Exec
	user, group string
}

func (a asOSUser) Exec(ctx context.Context, cmd []string, stdin []byte) (int, []byte, error) {
	argv := append([]string{"setpriv", "--reuid=" + a.user, "--regid=" + a.group, "--clear-groups", "--"}, cmd...)
	return a.next.Exec(ctx, argv, stdin)
}

// grantLines is SHOW GRANTS for user@'%', the name replaced and the password clause removed, sorted.
// The server lists a column grant's columns in no fixed order: they are sorted.
var (
	authClause = regexp.MustCompile(` IDENTIFIED (BY PASSWORD|VIA mysql_native_password USING) '[^']*'`)
	columns    = regexp.MustCompile(`\([^)]*\)`)
)

func grantLines(t *testing.T, exec provider.Exec, user string) []string {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(root(t, exec, "SHOW GRANTS FOR `"+user+"`@`%`")), "\n") {
		l = strings.ReplaceAll(l, "`"+user+"`@`%`", "<login>")
		l = columns.ReplaceAllStringFunc(l, func(c string) string {
			cols := strings.Split(c[1:len(c)-1], ", ")
			slices.Sort(cols)
			return "(" + strings.Join(cols, ", ") + ")"
		})
		lines = append(lines, authClause.ReplaceAllString(l, ""))
	}
	slices.Sort(lines)
	return lines
}

// accountState is whether each of users is locked and whether its authentication string is 'invalid'.
func accountState(t *testing.T, exec provider.Exec, users ...string) map[string][2]bool {
	t.Helper()
	out := root(t, exec, "SELECT User, IFNULL(JSON_EXTRACT(Priv, '$.account_locked'), 'false'), JSON_VALUE(Priv, '$.authentication_string') = 'invalid' "+
		"FROM mysql.global_priv WHERE Host = '%' AND User IN ('"+strings.Join(users, "', '")+"')")
	st := map[string][2]bool{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(l, "\t")
		if len(f) == 3 {
			st[f[0]] = [2]bool{f[1] == "true", f[2] == "1"}
		}
	}
	return st
}

// TestAlternating runs the suite on two login users that take turns: app_a (MARIADB_USER) and app_b,
// created locked and with other grants.
func TestAlternating(t *testing.T) {
	st, exec := start(t)
	srv := &server{t: t, st: st, exec: exec, users: []string{"app_a", "app_b"}}
	if slices.Equal(grantLines(t, exec, "app_a"), grantLines(t, exec, "app_b")) {
		t.Fatal("the fixture should start with different grants for app_a and app_b")
	}
	want := grantLines(t, exec, "app_a")
	logins := mariadb.WithLogins("app_a", "app_b")
	providertest.Run(t, providertest.Harness{
		Server:  srv,
		Exec:    exec,
		Initial: initialApp,
		New:     func(e provider.Exec) provider.Provider { return mariadb.New("db", e, logins) },
		Bad: map[string]func(provider.Exec) provider.Provider{
			"unknown users": func(e provider.Exec) provider.Provider {
				return mariadb.New("db", e, mariadb.WithLogins("ghost_a", "ghost_b"))
			},
			"missing second login": func(e provider.Exec) provider.Provider {
				return mariadb.New("db", e, mariadb.WithLogins("app_a", "app_c"))
			},
			"admin without privileges": func(e provider.Exec) provider.Provider {
				return mariadb.New("db", asOSUser{e, "nobody", "nogroup"}, logins, mariadb.WithAdminUser("nobody"))
			},
			"admin with CREATE USER only": func(e provider.Exec) provider.Provider {
				return mariadb.New("db", asOSUser{e, "mysql", "mysql"}, logins, mariadb.WithAdminUser("mysql"))
			},
			"wrong port": func(e provider.Exec) provider.Provider {
				return mariadb.New("db", e, logins, mariadb.WithPort(3307))
			},
		},
		Invariant: func(t *testing.T) {
			a, b := grantLines(t, exec, "app_a"), grantLines(t, exec, "app_b")
			if !slices.Equal(a, b) {
				t.Errorf("grants differ modulo the name:\napp_a: %q\napp_b: %q", a, b)
			}
			if !slices.Equal(a, want) {
				t.Errorf("the grants changed: %q, want app_a's initial %q", a, want)
			}
			state := accountState(t, exec, "app_a", "app_b")
			open := 0
			for u, s := range state {
				locked, invalid := s[0], s[1]
				switch {
				case !locked && !invalid:
					open++
				case locked && invalid:
				default:
					t.Errorf("%s is half locked out (locked %v, authentication 'invalid' %v)", u, locked, invalid)
				}
			}
			if len(state) != 2 || open != 1 {
				t.Errorf("%d of %d logins are unlocked with a password, want exactly 1 of 2", open, len(state))
			}
		},
		Restart: func(t *testing.T) { st.Compose(t, "restart", "mariadb") },
		Stop:    func(t *testing.T) { st.Compose(t, "stop", "mariadb") },
	})
}

// TestChain runs the suite on one user whose password is a chain of two during a rotation.
func TestChain(t *testing.T) {
	st, exec := start(t)
	srv := &server{t: t, st: st, exec: exec, users: []string{"chain"}}
	opts := []mariadb.Option{mariadb.WithChain(), mariadb.WithUser("chain")}
	providertest.Run(t, providertest.Harness{
		Server:  srv,
		Exec:    exec,
		Initial: initialChain,
		New:     func(e provider.Exec) provider.Provider { return mariadb.New("db", e, opts...) },
		Bad: map[string]func(provider.Exec) provider.Provider{
			"unknown user": func(e provider.Exec) provider.Provider {
				return mariadb.New("db", e, mariadb.WithChain(), mariadb.WithUser("nobody_here"))
			},
			"wrong host": func(e provider.Exec) provider.Provider {
				return mariadb.New("db", e, append(opts, mariadb.WithHost("10.0.0.1"))...)
			},
			"admin without privileges": func(e provider.Exec) provider.Provider {
				return mariadb.New("db", asOSUser{e, "nobody", "nogroup"}, append(opts, mariadb.WithAdminUser("nobody"))...)
			},
		},
		Invariant: func(t *testing.T) {
			// After a rotation the chain is gone: one hash, no OR.
			if c := root(t, exec, "SHOW CREATE USER chain@'%'"); strings.Contains(c, " OR ") {
				t.Errorf("chain still holds two passwords after the rotation")
			}
		},
		Restart: func(t *testing.T) { st.Compose(t, "restart", "mariadb") },
		Stop:    func(t *testing.T) { st.Compose(t, "stop", "mariadb") },
	})
}

func hash(v string) string {
	a := sha1.Sum([]byte(v))
	b := sha1.Sum(a[:])
	return "*" + strings.ToUpper(hex.EncodeToString(b[:]))
}

// TestChainProof proves, with raw SQL, what the chain mechanism relies on. Result on MariaDB 10.11.19
// (Debian bookworm): the server accepts
//
//	ALTER USER u@'%' IDENTIFIED VIA mysql_native_password USING '<hash new>' OR mysql_native_password USING '<hash old>'
//
// (SHOW CREATE USER prints the chain back in that order), both passwords then log in over TCP, and a
// later ALTER USER … IDENTIFIED VIA mysql_native_password USING '<hash new>' leaves only the new one: the
// old one gets "ERROR 1045 (28000): Access denied for user 'u'@'127.0.0.1' (using password: YES)".
// It also proves the lockout of the alternating mechanism: USING 'invalid' is accepted and no password
// logs in, while another non-hash string is refused.
func TestChainProof(t *testing.T) {
	_, exec := start(t)
	ctx := context.Background()
	old, next := "proof-old 'pw'", `proof-new "pw" \x`
	root(t, exec, "CREATE USER proof@'%' IDENTIFIED BY PASSWORD '"+hash(old)+"'")

	root(t, exec, "ALTER USER proof@'%' IDENTIFIED VIA mysql_native_password USING '"+hash(next)+"' OR mysql_native_password USING '"+hash(old)+"'")
	show := root(t, exec, "SHOW CREATE USER proof@'%'")
	if want := "USING '" + hash(next) + "' OR mysql_native_password USING '" + hash(old) + "'"; !strings.Contains(show, want) {
		t.Errorf("SHOW CREATE USER after the chain: %s", show)
	}
	for _, v := range []string{old, next} {
		if err := tryLogin(ctx, exec, "proof", v); err != nil {
			t.Errorf("with the chain, %q does not log in: %v", v, err)
		}
	}
	if err := tryLogin(ctx, exec, "proof", "neither"); err == nil {
		t.Error("with the chain, a third password logs in")
	}

	root(t, exec, "ALTER USER proof@'%' IDENTIFIED VIA mysql_native_password USING '"+hash(next)+"'")
	if err := tryLogin(ctx, exec, "proof", next); err != nil {
		t.Errorf("after the chain, the new password does not log in: %v", err)
	}
	err := tryLogin(ctx, exec, "proof", old)
	if err == nil || !strings.Contains(err.Error(), "ERROR 1045") {
		t.Errorf("after the chain, the old password: %v, want ERROR 1045", err)
	}
	t.Logf("old password after the chain: %v", err)

	root(t, exec, "ALTER USER proof@'%' IDENTIFIED VIA mysql_native_password USING 'invalid'")
	for _, v := range []string{next, "invalid", ""} {
		if err := tryLogin(ctx, exec, "proof", v); err == nil {
			t.Errorf("with USING 'invalid', %q logs in", v)
		}
	}
	code, out, _ := exec.Exec(ctx, []string{"mariadb", "-uroot"}, []byte("ALTER USER proof@'%' IDENTIFIED VIA mysql_native_password USING 'bogus';"))
	if code == 0 {
		t.Error("the server accepted USING 'bogus'")
	}
	t.Logf("USING 'bogus': %s", strings.TrimSpace(string(out)))
}

// TestDrain holds a session open as the old login: Drain fails after its timeout naming the session,
// and with terminate ends it. The revoke then leaves the old login with no password that works.
func TestDrain(t *testing.T) {
	_, exec := start(t)
	ctx := context.Background()
	logins := mariadb.WithLogins("app_a", "app_b")
	d := mariadb.New("db", exec, logins, mariadb.WithDrainTimeout(2*time.Second), mariadb.WithPoll(200*time.Millisecond))
	next := "drain-next-pw"
	if err := d.Check(ctx, initialApp); err != nil {
		t.Fatal(err)
	}
	login, err := d.Stage(ctx, initialApp, next)
	if err != nil || login != "app_b" {
		t.Fatalf("Stage = %q, %v; want app_b", login, err)
	}

	// A client still on the old login, in the middle of a query.
	held := make(chan string, 1)
	go func() {
		const script = `IFS= read -r MYSQL_PWD; export MYSQL_PWD; exec mariadb -h 127.0.0.1 -u app_a -e 'SELECT SLEEP(120)'`
		hctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		code, out, err := exec.Exec(hctx, []string{"sh", "-c", script}, []byte(initialApp+"\n"))
		held <- fmt.Sprintf("exit %d, %v: %s", code, err, strings.TrimSpace(string(out)))
	}()
	sessions := func() string {
		return strings.TrimSpace(root(t, exec, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'app_a'"))
	}
	for i := 0; sessions() != "1"; i++ {
		if i > 100 {
			t.Fatal("the held session did not show up")
		}
		time.Sleep(100 * time.Millisecond)
	}

	begin := time.Now()
	err = d.Drain(ctx, next)
	if err == nil {
		t.Fatal("Drain passed with a session of the old login open")
	}
	if took := time.Since(begin); took < 2*time.Second {
		t.Errorf("Drain gave up after %v, before its timeout", took)
	}
	if !strings.Contains(err.Error(), "1 session(s) of `app_a`@`%` (from 127.0.0.1)") {
		t.Errorf("Drain error does not name the session: %v", err)
	}
	if strings.Contains(err.Error(), initialApp) || strings.Contains(err.Error(), next) {
		t.Errorf("an error carries a value: %v", err)
	}
	t.Logf("drain without terminate: %v", err)
	if n := sessions(); n != "1" {
		t.Fatalf("Drain without terminate changed the sessions: %s left", n)
	}

	dt := mariadb.New("db", exec, logins, mariadb.WithDrainTimeout(time.Second), mariadb.WithPoll(200*time.Millisecond), mariadb.WithTerminate(true))
	if err := dt.Drain(ctx, next); err != nil {
		t.Fatalf("Drain with terminate: %v", err)
	}
	if n := sessions(); n != "0" {
		t.Errorf("%s session(s) of app_a left after Drain with terminate", n)
	}
	select {
	case res := <-held:
		t.Logf("held session: %s", res)
	case <-time.After(30 * time.Second):
		t.Error("the held client did not end")
	}

	if err := dt.Revoke(ctx, next); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{initialApp, "invalid", ""} {
		if err := tryLogin(ctx, exec, "app_a", v); err == nil {
			t.Errorf("after Revoke, app_a logs in with %q", v)
		}
	}
	if err := tryLogin(ctx, exec, "app_b", next); err != nil {
		t.Errorf("after Revoke, the new value does not log in: %v", err)
	}
	if s := accountState(t, exec, "app_a")["app_a"]; !s[0] || !s[1] {
		t.Errorf("app_a after Revoke: locked %v, authentication 'invalid' %v; want both", s[0], s[1])
	}
}
