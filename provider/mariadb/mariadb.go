// Package mariadb rotates the password of MariaDB (≥ 10.4) logins with a real overlap, by one of two
// mechanisms:
//
//   - alternating users (the default, WithLogins): two login users with identical grants take turns. The
//     one not in use is locked and has no valid password; a rotation copies the active user's grants to
//     it, gives it the new password and unlocks it, waits until no session of the old user is left and
//     locks that one.
//   - a two-password chain (WithChain): one user is authenticated by an OR chain of two
//     mysql_native_password hashes, the new and the old, while consumers move over.
//
// rekey talks to the server with the mariadb client inside the server's own container, as an admin
// logged in over the socket (root through unix_socket by default). Every statement travels on the
// client's stdin, and no value ever does: rekey computes the mysql_native_password hash itself and sends
// only that. The one login with a value (Verify, Check) gets it on stdin too.
package mariadb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rekeyhq/rekey/provider"
)

// MariaDB drives the logins of one secret on one server.
type MariaDB struct {
	name      string
	exec      provider.Exec
	user      string    // chain mode: the user whose password rotates
	host      string    // the host part of every rotated account
	logins    [2]string // alternating mode
	chain     bool
	drain     time.Duration
	terminate bool
	poll      time.Duration
	admin     string
	port      int
}

// Option configures a MariaDB driver.
type Option func(*MariaDB)

// WithUser sets the user whose password rotates in chain mode. In alternating mode without WithLogins,
// the logins default to USER_a and USER_b.
func WithUser(u string) Option { return func(m *MariaDB) { m.user = u } }

// WithHost sets the host part of the rotated accounts (default "%"). Check and Verify log in over TCP
// from 127.0.0.1 inside the container, so the host must match that address ("localhost" does not: the
// server resolves no names).
func WithHost(h string) Option { return func(m *MariaDB) { m.host = h } }

// WithLogins sets the two login users that take turns (the default mechanism).
func WithLogins(a, b string) Option { return func(m *MariaDB) { m.logins = [2]string{a, b} } }

// WithChain rotates one user's password through a chain of two passwords instead of two users.
func WithChain() Option { return func(m *MariaDB) { m.chain = true } }

// WithDrainTimeout bounds the wait for sessions of the old login in Drain (default 60s).
func WithDrainTimeout(d time.Duration) Option { return func(m *MariaDB) { m.drain = d } }

// WithTerminate makes Drain end the sessions of the old login still open at the timeout (KILL) instead
// of failing.
func WithTerminate(t bool) Option { return func(m *MariaDB) { m.terminate = t } }

// WithPoll sets how often Drain looks at the sessions (default 1s).
func WithPoll(d time.Duration) Option { return func(m *MariaDB) { m.poll = d } }

// WithAdminUser sets the user rekey logs in as over the socket, without a password (default root, with
// unix_socket authentication as the container's OS root).
func WithAdminUser(u string) Option { return func(m *MariaDB) { m.admin = u } }

// WithPort sets the TCP port logins are tried on inside the container (default 3306).
func WithPort(p int) Option { return func(m *MariaDB) { m.port = p } }

// New returns a driver for the server called name (for messages), reached through exec.
func New(name string, exec provider.Exec, opts ...Option) *MariaDB {
	m := &MariaDB{name: name, exec: exec, host: "%", drain: 60 * time.Second, poll: time.Second, admin: "root", port: 3306}
	for _, o := range opts {
		o(m)
	}
	if !m.chain && m.logins == [2]string{} && m.user != "" {
		m.logins = [2]string{m.user + "_a", m.user + "_b"}
	}
	return m
}

// Mechanism implements provider.Provider.
func (m *MariaDB) Mechanism() string {
	if m.chain {
		return fmt.Sprintf("MariaDB user %s holds the old and the new password at once (a chain of two mysql_native_password hashes)", account(m.user, m.host))
	}
	return fmt.Sprintf("MariaDB users %s and %s take turns, with identical grants; the one not in use is locked with no valid password",
		account(m.logins[0], m.host), account(m.logins[1], m.host))
}

func (m *MariaDB) errorf(format string, args ...any) error {
	return fmt.Errorf("mariadb %s: "+format, append([]any{m.name}, args...)...)
}

// names are the rotated users.
func (m *MariaDB) names() []string {
	if m.chain {
		return []string{m.user}
	}
	return m.logins[:]
}

// configured checks the options before anything reaches the server.
func (m *MariaDB) configured() error {
	switch {
	case m.chain && m.user == "":
		return m.errorf("no user to rotate: set servers.%s.user", m.name)
	case !m.chain && (m.logins[0] == "" || m.logins[1] == ""):
		return m.errorf("no login users: set servers.%s.logins to the two users that take turns (or user, for USER_a and USER_b)", m.name)
	case !m.chain && m.logins[0] == m.logins[1]:
		return m.errorf("the two login users are both %s: set two different users in servers.%s.logins", m.logins[0], m.name)
	case m.admin == "":
		return m.errorf("no admin user: set servers.%s.admin or leave it out for root", m.name)
	}
	return nil
}

// privileges the admin login holds globally, as USER_PRIVILEGES lists them for CURRENT_USER().
const privQuery = `SELECT PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.USER_PRIVILEGES ` +
	`WHERE GRANTEE = CONCAT('''', LEFT(CURRENT_USER(), CHAR_LENGTH(CURRENT_USER()) - CHAR_LENGTH(SUBSTRING_INDEX(CURRENT_USER(), '@', -1)) - 1), ` +
	`'''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')`

// Check implements provider.Provider.
func (m *MariaDB) Check(ctx context.Context, current string) error {
	if err := m.configured(); err != nil {
		return err
	}
	res, err := m.query(ctx, "SELECT VERSION()", "SELECT CURRENT_USER()", privQuery)
	if err != nil {
		return m.errorf("%w", err)
	}
	if len(res[0]) != 1 || len(res[1]) != 1 {
		return m.errorf("unexpected answer to SELECT VERSION(), CURRENT_USER()")
	}
	if err := supported(res[0][0][0]); err != nil {
		return m.errorf("%w", err)
	}
	if err := m.privileged(res[1][0][0], res[2]); err != nil {
		return err
	}
	us, err := m.users(ctx, m.names()...)
	if err != nil {
		var se *sqlError
		if errors.As(err, &se) && (se.num == 1142 || se.num == 1044) {
			return m.errorf("the admin login %s may not read mysql.global_priv (%s): grant it SELECT ON mysql.global_priv", res[1][0][0], se.text)
		}
		return m.errorf("%w", err)
	}
	for _, n := range m.names() {
		u, ok := us[n]
		if !ok {
			return m.missing(n)
		}
		if ps := u.others(); len(ps) > 0 {
			return m.errorf("%s authenticates via %s: rekey rotates mysql_native_password passwords only; switch it with ALTER USER %s IDENTIFIED VIA mysql_native_password USING PASSWORD('…') (in a client, not on a command line)",
				account(n, m.host), strings.Join(ps, ", "), account(n, m.host))
		}
	}
	holder, err := m.prove(ctx, us, current)
	var se *sqlError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, provider.ErrUnreachable):
		return m.errorf("%w", err)
	case holder == nil || (errors.As(err, &se) && se.denied()):
		return m.errorf("the current value of %s, as the sources hold it, does not log in (%v): rekey will not rotate from a value the server rejects; compare with `rekey drift` and fix the source or the server first", m.who(), err)
	}
	return m.errorf("the current value matches the password of %s, but the login failed: %w", account(holder.name, m.host), err)
}

// who names the rotated user(s) in messages.
func (m *MariaDB) who() string {
	if m.chain {
		return account(m.user, m.host)
	}
	return account(m.logins[0], m.host) + " / " + account(m.logins[1], m.host)
}

// supported checks the server's VERSION(): MariaDB 10.4 brought mysql.global_priv and OR chains of
// authentication plugins, which both mechanisms read or use.
func supported(v string) error {
	if !strings.Contains(v, "MariaDB") {
		return fmt.Errorf("the server is not MariaDB (version %s): this driver speaks MariaDB's account tables and syntax only", v)
	}
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return fmt.Errorf("failed to read the server version (got %q)", v)
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return fmt.Errorf("failed to read the server version (got %q)", v)
	}
	if major < 10 || (major == 10 && minor < 4) {
		return fmt.Errorf("MariaDB %s is too old (needs 10.4 or later, which brought mysql.global_priv and chains of authentication plugins): upgrade, or rotate this password by hand in a maintenance window", v)
	}
	return nil
}

// privileged checks the admin's global privileges against what the mechanism needs.
func (m *MariaDB) privileged(admin string, rows [][]string) error {
	have := map[string]bool{}
	grantable := false
	for _, r := range rows {
		if len(r) == 2 {
			have[r[0]] = true
			grantable = grantable || r[1] == "YES"
		}
	}
	var lack []string
	if !have["CREATE USER"] {
		lack = append(lack, "CREATE USER")
	}
	if !m.chain {
		if !grantable {
			lack = append(lack, "GRANT OPTION")
		}
		if !have["PROCESS"] {
			lack = append(lack, "PROCESS")
		}
		if m.terminate && !have["CONNECTION ADMIN"] && !have["SUPER"] {
			lack = append(lack, "CONNECTION ADMIN")
		}
	}
	if len(lack) == 0 {
		return nil
	}
	why := "CREATE USER to change passwords with ALTER USER"
	if !m.chain {
		why += ", GRANT OPTION (and the privileges the logins hold) to copy the grants of one login to the other, PROCESS to see their sessions"
		if m.terminate {
			why += ", CONNECTION ADMIN to end them"
		}
	}
	var grant []string
	for _, p := range lack {
		if p != "GRANT OPTION" {
			grant = append(grant, p)
		}
	}
	if len(grant) == 0 {
		grant = []string{"USAGE"}
	}
	stmt := "GRANT " + strings.Join(grant, ", ") + " ON *.* TO " + admin
	if slices.Contains(lack, "GRANT OPTION") {
		stmt += " WITH GRANT OPTION"
	}
	return m.errorf("the admin login %s lacks %s: rekey needs %s, and SELECT on mysql.global_priv; grant them as root, e.g. %s",
		admin, strings.Join(lack, ", "), why, stmt)
}

// missing explains an absent rotated user, with SQL to create it without any password.
func (m *MariaDB) missing(n string) error {
	acct := account(n, m.host)
	create := "CREATE USER " + acct + " IDENTIFIED VIA mysql_native_password USING 'invalid' ACCOUNT LOCK"
	if m.chain {
		return m.errorf("no user %s on the server: check servers.%s.user and host, or create it (%s) and set its password to the current value by hand", acct, m.name, create)
	}
	other := m.logins[0]
	if other == n {
		other = m.logins[1]
	}
	return m.errorf("no login user %s on the server: the logins take turns and both must exist; create it locked and without a password (%s), rekey gives it the grants of %s at the next rotation",
		acct, create, account(other, m.host))
}

// prove logs in with value as the user holding it. When no user holds it, the login is tried anyway as
// the user in use (or the first), so that the server judges the value and records the refusal; the
// returned user is then nil.
func (m *MariaDB) prove(ctx context.Context, us map[string]user, value string) (*user, error) {
	if h := m.holder(us, value); h != nil {
		return h, m.login(ctx, h.name, value)
	}
	try := m.names()[0]
	for _, n := range m.names() {
		if u, ok := us[n]; ok && u.open() {
			try = n
			break
		}
	}
	if err := m.login(ctx, try, value); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("the value logs in as %s but matches none of its mysql_native_password hashes", account(try, m.host))
}

// holder is the rotated user value logs in as, or nil.
func (m *MariaDB) holder(us map[string]user, value string) *user {
	for _, n := range m.names() {
		if u, ok := us[n]; ok && u.holds(value) {
			return &u
		}
	}
	return nil
}

// state reads every rotated user and fails when one is missing.
func (m *MariaDB) state(ctx context.Context) (map[string]user, error) {
	us, err := m.users(ctx, m.names()...)
	if err != nil {
		return nil, m.errorf("failed to read the rotated users: %w", err)
	}
	for _, n := range m.names() {
		if _, ok := us[n]; !ok {
			return nil, m.missing(n)
		}
	}
	return us, nil
}

// other is the login that is not u.
func (m *MariaDB) other(us map[string]user, u *user) user {
	if u.name == m.logins[0] {
		return us[m.logins[1]]
	}
	return us[m.logins[0]]
}

// Stage implements provider.Provider.
func (m *MariaDB) Stage(ctx context.Context, current, next string) (string, error) {
	if err := m.configured(); err != nil {
		return "", err
	}
	if next == "" {
		return "", m.errorf("refusing to stage an empty password: mysql_native_password would accept an empty password from anyone")
	}
	if err := passable(next); err != nil {
		return "", m.errorf("%w", err)
	}
	us, err := m.state(ctx)
	if err != nil {
		return "", err
	}
	act := m.holder(us, current)
	if act == nil {
		return "", m.errorf("the current value is the password of none of %s: rekey will not stage next to a value the server rejects; run `rekey check` and `rekey drift`", m.who())
	}
	if next == current || (!m.chain && act.holds(next)) {
		return "", m.errorf("the new value is the current password of %s: generate another value", account(act.name, m.host))
	}
	if m.chain {
		stmt := fmt.Sprintf("ALTER USER %s IDENTIFIED VIA %s USING '%s' OR %s USING '%s'",
			account(m.user, m.host), native, nativeHash(next), native, nativeHash(current))
		if err := m.do(ctx, stmt); err != nil {
			return "", m.errorf("failed to add the new password to %s: %w", account(m.user, m.host), err)
		}
		return "", nil
	}
	in := m.other(us, act)
	if err := m.copyGrants(ctx, act.name, in.name); err != nil {
		return "", err
	}
	stmt := fmt.Sprintf("ALTER USER %s IDENTIFIED BY PASSWORD '%s' ACCOUNT UNLOCK", account(in.name, m.host), nativeHash(next))
	if err := m.do(ctx, stmt); err != nil {
		return "", m.errorf("failed to give %s the new password: %w", account(in.name, m.host), err)
	}
	return in.name, nil
}

// grants reads SHOW GRANTS of both users.
func (m *MariaDB) grants(ctx context.Context, from, to string) ([]string, []string, error) {
	res, err := m.query(ctx, "SHOW GRANTS FOR "+account(from, m.host), "SHOW GRANTS FOR "+account(to, m.host))
	if err != nil {
		return nil, nil, m.errorf("failed to read the grants of %s and %s: %w", account(from, m.host), account(to, m.host), err)
	}
	return column(res[0]), column(res[1]), nil
}

// same compares two users' grants modulo the name; it returns the normalized lines found on one only.
func same(from, to []string, fromAcct, toAcct string) (onlyFrom, onlyTo []string, err error) {
	nf, err := normalize(from, fromAcct)
	if err != nil {
		return nil, nil, err
	}
	nt, err := normalize(to, toAcct)
	if err != nil {
		return nil, nil, err
	}
	for _, l := range nf {
		if !slices.Contains(nt, l) {
			onlyFrom = append(onlyFrom, l)
		}
	}
	for _, l := range nt {
		if !slices.Contains(nf, l) {
			onlyTo = append(onlyTo, l)
		}
	}
	return onlyFrom, onlyTo, nil
}

// copyGrants replaces the grants of to by a copy of from's, unless they already match: a resumed stage
// must not take privileges from a login consumers may already use. The copy is checked afterwards.
func (m *MariaDB) copyGrants(ctx context.Context, from, to string) error {
	fa, ta := account(from, m.host), account(to, m.host)
	fg, tg, err := m.grants(ctx, from, to)
	if err != nil {
		return err
	}
	onlyF, onlyT, err := same(fg, tg, fa, ta)
	if err != nil {
		return m.errorf("%w", err)
	}
	if len(onlyF) == 0 && len(onlyT) == 0 {
		return nil
	}
	stmts := revokeAll(tg, ta)
	for _, l := range fg {
		s, _ := rewrite(l, fa, ta) // normalize accepted every line
		stmts = append(stmts, s)
	}
	if err := m.do(ctx, stmts...); err != nil {
		return m.errorf("failed to copy the grants of %s to %s (%v): %s stays locked; fix its grants by hand to match, then run apply again", fa, ta, err, ta)
	}
	fg, tg, err = m.grants(ctx, from, to)
	if err != nil {
		return err
	}
	if onlyF, onlyT, err = same(fg, tg, fa, ta); err != nil {
		return m.errorf("%w", err)
	} else if len(onlyF) > 0 || len(onlyT) > 0 {
		return m.errorf("the grants of %s still differ from those of %s after the copy (only on %s: %s; only on %s: %s): %s stays locked; make them identical by hand, then run apply again",
			ta, fa, fa, strings.Join(onlyF, "; "), ta, strings.Join(onlyT, "; "), ta)
	}
	return nil
}

// Verify implements provider.Provider.
func (m *MariaDB) Verify(ctx context.Context, next string) error {
	if err := m.configured(); err != nil {
		return err
	}
	us, err := m.state(ctx)
	if err != nil {
		return err
	}
	if _, err := m.prove(ctx, us, next); err != nil {
		return m.errorf("the new value of %s does not log in: %w", m.who(), err)
	}
	return nil
}

// Revoke implements provider.Provider.
func (m *MariaDB) Revoke(ctx context.Context, next string) error {
	if err := m.configured(); err != nil {
		return err
	}
	if err := m.only(ctx, next, "new"); err != nil {
		return m.errorf("failed to remove the old password: %w", err)
	}
	return nil
}

// Unstage implements provider.Provider.
func (m *MariaDB) Unstage(ctx context.Context, current, _ string) error {
	if err := m.configured(); err != nil {
		return err
	}
	if err := m.only(ctx, current, "current"); err != nil {
		return m.errorf("failed to remove the new password: %w", err)
	}
	return nil
}

// only leaves value as the one password that logs in. Chain mode sets the user's chain to value's hash
// alone. Alternating users lock the login not holding value out: ACCOUNT LOCK, and the authentication
// string 'invalid', which no password matches (proved in TestChainProof and TestDrain: the old value, the
// word itself and the empty password are all refused). ACCOUNT LOCK alone would keep the old password's
// hash, so one ACCOUNT UNLOCK would revive the old credential; a random password nobody knows would still
// be a credential, open to whoever reads the hash table. 'invalid' leaves none, and the server accepts it
// where it refuses any other string that is not a hash.
func (m *MariaDB) only(ctx context.Context, value, what string) error {
	us, err := m.state(ctx)
	if err != nil {
		return err
	}
	h := m.holder(us, value)
	if h == nil {
		return fmt.Errorf("the %s value is the password of none of %s, so rekey will not take the other one away: run `rekey check`", what, m.who())
	}
	if m.chain {
		return m.do(ctx, fmt.Sprintf("ALTER USER %s IDENTIFIED VIA %s USING '%s'", account(m.user, m.host), native, nativeHash(value)))
	}
	if h.locked {
		return fmt.Errorf("%s holds the %s value but is locked, so locking %s would leave no login: unlock it (ALTER USER %s ACCOUNT UNLOCK) first",
			account(h.name, m.host), what, account(m.other(us, h).name, m.host), account(h.name, m.host))
	}
	o := m.other(us, h)
	return m.do(ctx, fmt.Sprintf("ALTER USER %s IDENTIFIED VIA %s USING '%s' ACCOUNT LOCK", account(o.name, m.host), native, invalidAuth))
}
