package postgres

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/dockerio"
	"github.com/rekeyhq/rekey/internal/testenv"
	"github.com/rekeyhq/rekey/provider"
	"github.com/rekeyhq/rekey/provider/providertest"
)

// initial is shop_a's password in testdata/shop/initdb (a ligature and a no-break space: SASLprep maps
// both, so the server's own verifier checks rekey's SASLprep).
const initial = "initial \ufb01 shop\u00a0pw"

var loginRoles = []string{"shop_a", "shop_b"}

// server is the PostgreSQL container, reached with the harness's own psql sessions, never the driver's.
type server struct {
	exec      provider.Exec
	container string

	mu     sync.Mutex
	extra  int // failed logins the harness made on its way (see Login)
	active struct{ role, value string }
}

func start(t *testing.T) (*testenv.Stack, *server) { return startDir(t, "shop") }

func startDir(t *testing.T, dir string) (*testenv.Stack, *server) {
	testenv.RequireImages(t, "rekey-demo/postgres:dev")
	st := testenv.NewStack(t, filepath.Join("testdata", dir))
	st.Up(t)
	eng, err := dockerio.New(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return st, &server{exec: provider.Service{Engine: eng, Project: st.Name, Name: "db"}, container: st.ContainerID(t, "db")}
}

// sql runs statements as postgres over the socket and returns the output (unaligned, tuples only).
func (s *server) sql(ctx context.Context, sql string) (string, error) {
	code, out, err := s.exec.Exec(ctx, []string{"psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-U", "postgres", "-d", "shop"}, []byte(sql))
	if err != nil || code != 0 {
		return "", fmt.Errorf("psql exited %d: %v: %s", code, err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

func (s *server) mustSQL(t *testing.T, sql string) string {
	t.Helper()
	out, err := s.sql(context.Background(), sql)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// as runs sql over TCP as role with password (read from stdin into PGPASSWORD, never in argv).
func (s *server) as(ctx context.Context, role, password, app, sql string) (string, error) {
	script := `IFS= read -r PGPASSWORD || true; export PGPASSWORD; PGAPPNAME="$3"; export PGAPPNAME
exec psql -X -q -At -w -v ON_ERROR_STOP=1 -h 127.0.0.1 -U "$1" -d shop -c "$2"`
	code, out, err := s.exec.Exec(ctx, []string{"sh", "-c", script, "harness", role, sql, app}, []byte(password+"\n"))
	if err != nil {
		return "", err
	}
	if code != 0 {
		return "", errors.New(strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

// Login tries both login roles; it succeeds if either logs in with value. A role tried in vain on the way
// costs a failed login in the server's log that the suite does not expect (it counts one per Login that
// fails, none per Login that succeeds), so the harness keeps count of those and AuthFailures leaves them
// out: what remains is the driver's and the suite's own.
func (s *server) Login(ctx context.Context, value string) error {
	failed := 0
	var errs []error
	for _, role := range loginRoles {
		out, err := s.as(ctx, role, value, "harness", "select 1")
		if err == nil && out == "1" {
			s.mu.Lock()
			s.extra += failed
			s.active.role, s.active.value = role, value
			s.mu.Unlock()
			return nil
		}
		if err != nil && strings.Contains(err.Error(), "password authentication failed") {
			failed++
		}
		errs = append(errs, fmt.Errorf("%s: %v", role, err))
	}
	s.mu.Lock()
	s.extra += max(failed-1, 0)
	s.mu.Unlock()
	return errors.Join(errs...)
}

// AuthFailures counts the server's own log lines for rejected passwords.
func (s *server) AuthFailures(ctx context.Context) (int, error) {
	out, err := exec.CommandContext(ctx, "docker", "logs", s.container).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("docker logs: %v: %s", err, out)
	}
	n := strings.Count(string(out), "password authentication failed for user")
	s.mu.Lock()
	defer s.mu.Unlock()
	return n - s.extra, nil
}

// invariant checks the layout after a rotation: the active role creates a table, which the owner owns;
// it can use the tables the other role created before; both login roles have the same attributes,
// memberships and settings; exactly one can log in, the one the last successful login used.
func (s *server) invariant(t *testing.T, seq *int) {
	t.Helper()
	s.mu.Lock()
	role, value := s.active.role, s.active.value
	s.mu.Unlock()
	*seq++
	table := fmt.Sprintf("inv_%d", *seq)
	ctx := context.Background()
	sql := fmt.Sprintf("CREATE TABLE %s (id int); INSERT INTO %[1]s VALUES (1); SELECT tableowner FROM pg_tables WHERE tablename = '%[1]s'", table)
	owner, err := s.as(ctx, role, value, "harness", sql)
	if err != nil {
		t.Fatalf("creating a table as %s: %v", role, err)
	}
	if owner != "shop" {
		t.Errorf("table %s created by %s is owned by %q, want shop", table, role, owner)
	}
	for i := 1; i < *seq; i++ {
		if _, err := s.as(ctx, role, value, "harness", fmt.Sprintf("INSERT INTO inv_%d VALUES (2)", i)); err != nil {
			t.Errorf("%s cannot write to inv_%d, created in an earlier rotation: %v", role, i, err)
		}
	}
	rows := strings.Split(s.mustSQL(t, `SELECT r.rolname, r.rolcanlogin,
	concat_ws(',', r.rolsuper, r.rolinherit, r.rolcreaterole, r.rolcreatedb, r.rolreplication, r.rolbypassrls, r.rolconnlimit),
	coalesce((SELECT string_agg(g.rolname || '/' || m.admin_option, ',' ORDER BY g.rolname) FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid), ''),
	coalesce((SELECT string_agg(s.setdatabase || ':' || s.setconfig::text, ',' ORDER BY s.setdatabase) FROM pg_db_role_setting s WHERE s.setrole = r.oid), '')
	FROM pg_roles r WHERE r.rolname IN ('shop_a', 'shop_b') ORDER BY r.rolname`), "\n")
	if len(rows) != 2 {
		t.Fatalf("login roles: %q", rows)
	}
	a, b := strings.Split(rows[0], "|"), strings.Split(rows[1], "|")
	if !slices.Equal(a[2:], b[2:]) {
		t.Errorf("the login roles differ beyond LOGIN:\n%q\n%q", a, b)
	}
	if a[3] != "shop/false" || a[4] != "0:{role=shop}" {
		t.Errorf("memberships %q, settings %q; want shop/false and 0:{role=shop}", a[3], a[4])
	}
	var canLogin []string
	for _, r := range [][]string{a, b} {
		if r[1] == "t" {
			canLogin = append(canLogin, r[0])
		}
	}
	if len(canLogin) != 1 || canLogin[0] != role {
		t.Errorf("login roles with LOGIN: %v, want only %s", canLogin, role)
	}
}

func driver(e provider.Exec, opts ...Option) provider.Provider {
	return New("db", e, append([]Option{WithOwner("shop"), WithPoll(100 * time.Millisecond), WithDrainTimeout(5 * time.Second)}, opts...)...)
}

// TestSuite runs the conformance suite on a real server.
func TestSuite(t *testing.T) {
	t.Parallel()
	st, srv := start(t)
	seq := 0
	providertest.Run(t, providertest.Harness{
		Server:  srv,
		Exec:    srv.exec,
		Initial: initial,
		New:     func(e provider.Exec) provider.Provider { return driver(e) },
		Bad: map[string]func(provider.Exec) provider.Provider{
			"unknown owner": func(e provider.Exec) provider.Provider {
				return driver(e, WithOwner("nobody"), WithLogins("shop_a", "shop_b"), WithDatabase("shop"))
			},
			"missing login role":    func(e provider.Exec) provider.Provider { return driver(e, WithLogins("shop_a", "shop_z")) },
			"login role not member": func(e provider.Exec) provider.Provider { return driver(e, WithLogins("shop_a", "shop_c")) },
			"admin not superuser":   func(e provider.Exec) provider.Provider { return driver(e, WithAdminUser("root")) },
			"unknown admin":         func(e provider.Exec) provider.Provider { return driver(e, WithAdminUser("nobody")) },
			"unknown database":      func(e provider.Exec) provider.Provider { return driver(e, WithDatabase("nodb")) },
			"wrong port":            func(e provider.Exec) provider.Provider { return driver(e, WithPort(5433)) },
		},
		Invariant: func(t *testing.T) { srv.invariant(t, &seq) },
		Restart:   func(t *testing.T) { st.Compose(t, "restart", "db") },
		Stop:      func(t *testing.T) { st.Compose(t, "stop", "db") },
	})
}
