// Package postgres rotates the password of a PostgreSQL application login with alternating login roles.
//
// PostgreSQL gives a role one password, so the overlap comes from two roles: an owner role (NOLOGIN)
// owns the database objects, and two login roles (OWNER_a and OWNER_b by default) are members of it, each
// with ALTER ROLE … SET role = owner, so that whatever either creates is owned by the owner and grants
// never drift apart. Outside a rotation exactly one login role has LOGIN and a password: the active one.
// A rotation gives the inactive role LOGIN and the new password (Stage), consumers move over to it (rekey
// writes its name next to the new value), sessions of the old role end (Drain), and the old role loses
// LOGIN and its password (Revoke). The secret's value is the password; the user name alternates.
//
// rekey talks to the server with psql inside the server's own container, as a superuser over the local
// socket, with SQL on stdin. Values never reach the server as plaintext: rekey computes the SCRAM-SHA-256
// verifier itself and sends that, and finds which role holds a value by checking it against the stored
// verifiers locally. The one real login per Check and Verify passes the value to psql through its
// environment, read from stdin by a shell wrapper (see loginScript).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rekeyhq/rekey/provider"
)

// Postgres drives the login roles of one owner role on one server.
type Postgres struct {
	name         string
	exec         provider.Exec
	owner        string
	logins       [2]string
	database     string
	adminUser    string
	port         int
	drainTimeout time.Duration
	terminate    bool
	poll         time.Duration
}

// Option configures a Postgres driver.
type Option func(*Postgres)

// WithOwner sets the owner role (NOLOGIN) the login roles act as. Required.
func WithOwner(role string) Option { return func(p *Postgres) { p.owner = role } }

// WithLogins sets the two login roles (default OWNER_a and OWNER_b).
func WithLogins(a, b string) Option { return func(p *Postgres) { p.logins = [2]string{a, b} } }

// WithDatabase sets the database consumers connect to, where rekey logs in to verify a value (default:
// the owner's name).
func WithDatabase(db string) Option { return func(p *Postgres) { p.database = db } }

// WithAdminUser sets the role psql logs in as over the local socket (default postgres). It must be a
// superuser: the stored password verifiers rekey checks values against are in pg_authid.
func WithAdminUser(u string) Option { return func(p *Postgres) { p.adminUser = u } }

// WithPort sets the port of the server inside the container (default 5432), for the socket and TCP alike.
func WithPort(port int) Option { return func(p *Postgres) { p.port = port } }

// WithDrainTimeout bounds how long Drain waits for sessions of the old login role (default 60s).
func WithDrainTimeout(d time.Duration) Option { return func(p *Postgres) { p.drainTimeout = d } }

// WithTerminate makes Drain end the sessions still open when the drain timeout is over, instead of
// failing.
func WithTerminate(t bool) Option { return func(p *Postgres) { p.terminate = t } }

// WithPoll sets how often Drain looks at pg_stat_activity (default 1s).
func WithPoll(d time.Duration) Option { return func(p *Postgres) { p.poll = d } }

// DefaultDrainTimeout is how long Drain waits for sessions of the old login role by default.
const DefaultDrainTimeout = 60 * time.Second

// New returns a driver for the server called name (for messages), reached through exec.
func New(name string, exec provider.Exec, opts ...Option) *Postgres {
	p := &Postgres{name: name, exec: exec, adminUser: "postgres", port: 5432, drainTimeout: DefaultDrainTimeout, poll: time.Second}
	for _, o := range opts {
		o(p)
	}
	if p.logins == [2]string{} && p.owner != "" {
		p.logins = [2]string{p.owner + "_a", p.owner + "_b"}
	}
	if p.database == "" {
		p.database = p.owner
	}
	if p.poll <= 0 {
		p.poll = time.Second
	}
	return p
}

// Mechanism implements provider.Provider.
func (p *Postgres) Mechanism() string {
	return fmt.Sprintf("PostgreSQL login roles %s and %s take turns, both acting as the owner role %s", p.logins[0], p.logins[1], p.owner)
}

// minVersion is PostgreSQL 10, the first with SCRAM-SHA-256 passwords.
const minVersion = 100000

// snapshot reads the state and fails unless the version, the admin and the layout are all right: every
// method starts with it, so none changes anything on a server it cannot fully handle.
func (p *Postgres) snapshot(ctx context.Context) (*state, error) {
	st, err := p.readSupported(ctx)
	if err != nil {
		return nil, err
	}
	if err := p.layout(st); err != nil {
		return nil, err
	}
	return st, nil
}

// readSupported reads the state, and fails unless the configuration, the version and the admin are right.
func (p *Postgres) readSupported(ctx context.Context) (*state, error) {
	if p.owner == "" {
		return nil, fmt.Errorf("postgres %s: no owner role configured: set servers.%s.user to the role (NOLOGIN) that owns the database objects", p.name, p.name)
	}
	if p.logins[0] == "" || p.logins[1] == "" || p.logins[0] == p.logins[1] || p.logins[0] == p.owner || p.logins[1] == p.owner {
		return nil, fmt.Errorf("postgres %s: the two login roles (%q, %q) and the owner role %s must all be set and differ", p.name, p.logins[0], p.logins[1], p.owner)
	}
	st, err := p.read(ctx)
	if err != nil {
		return nil, err
	}
	if st.Version < minVersion {
		return nil, fmt.Errorf("postgres %s: PostgreSQL %s has no SCRAM-SHA-256 passwords (needs 10 or later): upgrade, or rotate this password by hand in a maintenance window", p.name, st.VersionText)
	}
	if !st.Superuser {
		return nil, fmt.Errorf("postgres %s: the admin role %s is not a superuser: rekey checks values against the stored password verifiers in pg_authid, which only a superuser may read; set servers.%s.admin.user to a superuser (default postgres)", p.name, st.Admin, p.name)
	}
	return st, nil
}

// layout checks the roles and the database, and says exactly what is missing and how to create it.
func (p *Postgres) layout(st *state) error {
	var problems, fixes, last []string
	owner := ident(p.owner)
	switch {
	case st.Owner == nil:
		problems = append(problems, fmt.Sprintf("owner role %s does not exist", p.owner))
		fixes = append(fixes, fmt.Sprintf("CREATE ROLE %s NOLOGIN;", owner))
	case st.Owner.Login:
		problems = append(problems, fmt.Sprintf("owner role %s can log in (it must be NOLOGIN: consumers log in as %s or %s, acting as %s)", p.owner, p.logins[0], p.logins[1], p.owner))
		last = append(last, fmt.Sprintf("once every consumer logs in as %s instead of %s (give %[1]s the password %[2]s has now, move the consumers, roll them): ALTER ROLE %s NOLOGIN PASSWORD NULL;", p.logins[0], p.owner, owner))
	}
	if st.Database == nil {
		problems = append(problems, fmt.Sprintf("database %s does not exist", p.database))
		fixes = append(fixes, fmt.Sprintf("CREATE DATABASE %s OWNER %s;", ident(p.database), owner))
	}
	byName := map[string]loginRole{}
	for _, r := range st.Logins {
		byName[r.Name] = r
	}
	for _, name := range p.logins {
		r, ok := byName[name]
		if !ok {
			problems = append(problems, fmt.Sprintf("login role %s does not exist", name))
			fixes = append(fixes, fmt.Sprintf("CREATE ROLE %s NOLOGIN IN ROLE %s; ALTER ROLE %s SET role = %s;", ident(name), owner, ident(name), literal(p.owner)))
			continue
		}
		if st.Owner == nil {
			continue // a wrong owner name is the one problem worth reporting
		}
		if !r.Member {
			problems = append(problems, fmt.Sprintf("login role %s is not a member of %s", name, p.owner))
			fixes = append(fixes, fmt.Sprintf("GRANT %s TO %s;", owner, ident(name)))
		}
		switch v, inDB, ok := r.roleSetting(); {
		case !ok:
			problems = append(problems, fmt.Sprintf("login role %s does not act as %s (no role setting)", name, p.owner))
			fixes = append(fixes, fmt.Sprintf("ALTER ROLE %s SET role = %s;", ident(name), literal(p.owner)))
		case v != p.owner && inDB:
			problems = append(problems, fmt.Sprintf("login role %s acts as %s in database %s, not as %s", name, v, p.database, p.owner))
			fixes = append(fixes, fmt.Sprintf("ALTER ROLE %s IN DATABASE %s RESET role; ALTER ROLE %s SET role = %s;", ident(name), ident(p.database), ident(name), literal(p.owner)))
		case v != p.owner:
			problems = append(problems, fmt.Sprintf("login role %s acts as %s, not as %s", name, v, p.owner))
			fixes = append(fixes, fmt.Sprintf("ALTER ROLE %s SET role = %s;", ident(name), literal(p.owner)))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	hint := ""
	if st.Owner == nil {
		hint = fmt.Sprintf(" (or, if the name is wrong, fix servers.%s.user)", p.name)
	}
	var fix []string
	if len(fixes) > 0 {
		fix = append(fix, "to fix it, run as a superuser (no password needed: rekey sets it): "+strings.Join(fixes, " ")+hint)
	}
	if len(last) > 0 {
		if len(fix) > 0 {
			last[0] = "then, " + last[0]
		}
		fix = append(fix, last...)
	}
	return fmt.Errorf("postgres %s: the role layout is incomplete: %s; %s", p.name, strings.Join(problems, "; "), strings.Join(fix, " "))
}

// roles returns the two login roles in the configured order.
func (p *Postgres) roles(st *state) (a, b loginRole) {
	for _, r := range st.Logins {
		switch r.Name {
		case p.logins[0]:
			a = r
		case p.logins[1]:
			b = r
		}
	}
	return a, b
}

// holder returns the login role whose password is value, preferring one that can log in, and the other.
func (p *Postgres) holder(st *state, value string) (holder, other loginRole, ok bool) {
	a, b := p.roles(st)
	switch {
	case a.holds(value) && (a.Login || !b.holds(value) || !b.Login):
		return a, b, true
	case b.holds(value):
		return b, a, true
	}
	return loginRole{}, loginRole{}, false
}

// rejected explains a current value the server does not accept.
func (p *Postgres) rejected(detail string) error {
	return fmt.Errorf("postgres %s: the current value, as the sources hold it, is not the password of %s or %s (%s): the sources hold a value the server rejects, and rekey will not rotate from it; compare with `rekey drift` and fix the source or the server first", p.name, p.logins[0], p.logins[1], detail)
}

// Check implements provider.Provider.
func (p *Postgres) Check(ctx context.Context, current string) error {
	if current == "" {
		return fmt.Errorf("postgres %s: the current value, as the sources hold it, is empty: no login role can have an empty password; compare with `rekey drift` and fix the source first", p.name)
	}
	st, err := p.snapshot(ctx)
	if err != nil {
		return err
	}
	a, b := p.roles(st)
	h, other, ok := p.holder(st, current)
	if !ok {
		// Let the server judge too: a login as the role that can log in (a stored password rekey cannot
		// read, or a pg_hba.conf that does not ask for one, would otherwise pass unnoticed).
		var active []loginRole
		for _, r := range []loginRole{a, b} {
			if r.Login {
				active = append(active, r)
			}
		}
		if len(active) != 1 {
			return p.rejected(fmt.Sprintf("%d of them can log in", len(active)))
		}
		err := p.login(ctx, active[0].Name, current)
		if err == nil {
			return fmt.Errorf("postgres %s: the current value logs in as %s, yet it is not the password stored for %s: the server does not check passwords on TCP connections from inside its container (trust in pg_hba.conf?), so rekey cannot tell its login roles apart; require scram-sha-256 there first", p.name, active[0].Name, active[0].Name)
		}
		if !isRejected(err) {
			return p.loginFailed(active[0].Name, "the current value", err)
		}
		return p.rejected(err.Error())
	}
	switch {
	case !h.Login:
		return fmt.Errorf("postgres %s: the current value is the password of %s, but %s may not log in (NOLOGIN): the server and the sources disagree on which login role is active; compare with `rekey drift`, and if %s is the one consumers use, run ALTER ROLE %s LOGIN; as a superuser", p.name, h.Name, h.Name, h.Name, ident(h.Name))
	case other.Login:
		return fmt.Errorf("postgres %s: both login roles can log in, %s (which holds the current value) and %s: a rotation stopped half-way; let rekey finish or roll it back, or, once no consumer logs in as %s, run ALTER ROLE %s NOLOGIN PASSWORD NULL; as a superuser", p.name, h.Name, other.Name, other.Name, ident(other.Name))
	}
	if err := p.login(ctx, h.Name, current); err != nil {
		return p.loginFailed(h.Name, "the current value", err)
	}
	return nil
}

// loginFailed explains a failed login with a value whose role was found.
func (p *Postgres) loginFailed(role, what string, err error) error {
	if errors.Is(err, provider.ErrUnreachable) {
		return fmt.Errorf("postgres %s: failed to log in as %s over TCP inside the container: %w", p.name, role, err)
	}
	return fmt.Errorf("postgres %s: %s does not log in as %s over TCP (%v): check pg_hba.conf (a host line for %s with scram-sha-256), listen_addresses (rekey connects to 127.0.0.1:%d inside the container) and that %s may connect to database %s", p.name, what, role, err, role, p.port, role, p.database)
}

// Stage implements provider.Provider: the inactive login role gets LOGIN and the new password.
func (p *Postgres) Stage(ctx context.Context, current, next string) (string, error) {
	if next == "" {
		return "", fmt.Errorf("postgres %s: refusing to stage an empty password", p.name)
	}
	st, err := p.snapshot(ctx)
	if err != nil {
		return "", err
	}
	// Done already: next is the password of a role that can log in (a repeated Stage, or next is what
	// the active role holds).
	if h, _, ok := p.holder(st, next); ok && h.Login {
		return h.Name, nil
	}
	active, inactive, ok := p.holder(st, current)
	if !ok || !active.Login {
		return "", fmt.Errorf("postgres %s: the current value is the password of neither %s nor %s with LOGIN, so rekey cannot tell which login role is active and will not stage the new one; compare with `rekey drift`", p.name, p.logins[0], p.logins[1])
	}
	v, err := newVerifier(next)
	if err != nil {
		return "", fmt.Errorf("postgres %s: %w", p.name, err)
	}
	// One transaction: the role changes only if the server stored the verifier as given (a server that
	// took it for a plaintext password would hash it instead, and the new value would not log in).
	role := ident(inactive.Name)
	sql := quiet + "BEGIN;\n" +
		"ALTER ROLE " + role + " LOGIN PASSWORD " + literal(v) + ";\n" +
		"DO $rekey$ BEGIN IF (SELECT rolpassword FROM pg_authid WHERE rolname = " + literal(inactive.Name) + ") IS DISTINCT FROM " + literal(v) +
		" THEN RAISE EXCEPTION 'the server did not store the SCRAM verifier rekey sent'; END IF; END $rekey$;\n" +
		"COMMIT;\n"
	if _, err := p.admin(ctx, sql); err != nil {
		return "", fmt.Errorf("postgres %s: failed to give %s LOGIN and the new password: %w", p.name, inactive.Name, p.adminFailed(err))
	}
	return inactive.Name, nil
}

// Verify implements provider.Provider: a real login over TCP as the role holding next.
func (p *Postgres) Verify(ctx context.Context, next string) error {
	st, err := p.snapshot(ctx)
	if err != nil {
		return err
	}
	role := ""
	if h, _, ok := p.holder(st, next); ok {
		role = h.Name
	} else {
		// No stored password is next. Still let the server judge, as the role that can log in, so
		// that a stored password rekey cannot read never makes Verify fail where a consumer would not.
		if a, b := p.roles(st); a.Login {
			role = a.Name
		} else if b.Login {
			role = b.Name
		} else {
			return fmt.Errorf("postgres %s: the new value is the password of neither %s nor %s, and neither may log in: stage it first", p.name, p.logins[0], p.logins[1])
		}
	}
	if err := p.login(ctx, role, next); err != nil {
		if isRejected(err) {
			return fmt.Errorf("postgres %s: the new value does not log in as %s (%v): it was not staged, or was rolled back", p.name, role, err)
		}
		return p.loginFailed(role, "the new value", err)
	}
	return nil
}

// session is a backend of the old login role, as Drain reports it.
type session struct {
	PID  int    `json:"pid"`
	App  string `json:"app"`
	Addr string `json:"addr"`
}

func (s session) String() string {
	app, from := s.App, s.Addr
	if app == "" {
		app = "no application_name"
	} else {
		app = fmt.Sprintf("application %q", app)
	}
	if from == "" {
		from = "the local socket"
	}
	return fmt.Sprintf("pid %d, %s, from %s", s.PID, app, from)
}

// sessions lists the client backends logged in as role.
func (p *Postgres) sessions(ctx context.Context, role string) ([]session, error) {
	out, err := p.admin(ctx, `SELECT coalesce(json_agg(json_build_object('pid', pid, 'app', application_name,
	'addr', coalesce(host(client_addr), '')) ORDER BY pid), '[]') FROM pg_stat_activity
	WHERE usename = `+literal(role)+` AND pid <> pg_backend_pid();
`)
	if err != nil {
		return nil, err
	}
	var ss []session
	if err := decode(out, &ss); err != nil {
		return nil, err
	}
	return ss, nil
}

// Drain implements provider.Provider: it waits until no session of the other login role is left, within
// the drain timeout; then, with terminate, it ends the ones left.
func (p *Postgres) Drain(ctx context.Context, next string) error {
	st, err := p.snapshot(ctx)
	if err != nil {
		return err
	}
	_, old, ok := p.holder(st, next)
	if !ok {
		return fmt.Errorf("postgres %s: the new value is the password of neither %s nor %s, so rekey cannot tell which login role to drain: stage it first", p.name, p.logins[0], p.logins[1])
	}
	deadline := time.Now().Add(p.drainTimeout)
	var left []session
	for {
		left, err = p.sessions(ctx, old.Name)
		if err != nil {
			return fmt.Errorf("postgres %s: failed to list the sessions of %s: %w", p.name, old.Name, p.adminFailed(err))
		}
		if len(left) == 0 {
			return nil
		}
		if !time.Now().Before(deadline) {
			break
		}
		t := time.NewTimer(min(p.poll, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("postgres %s: stopped waiting for %d session(s) of %s: %w", p.name, len(left), old.Name, ctx.Err())
		case <-t.C:
		}
	}
	if !p.terminate {
		return fmt.Errorf("postgres %s: %d session(s) still logged in as the old login role %s after %v (%s): roll the consumers still connected so they reconnect as the new login, or set servers.%s.terminate: true to end such sessions when drain_timeout is over", p.name, len(left), old.Name, p.drainTimeout, describe(left), p.name)
	}
	if _, err := p.admin(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = `+literal(old.Name)+` AND pid <> pg_backend_pid();
`); err != nil {
		return fmt.Errorf("postgres %s: failed to end the sessions of %s: %w", p.name, old.Name, p.adminFailed(err))
	}
	// pg_terminate_backend only signals; wait (briefly) until the backends are gone.
	for wait := time.Now().Add(10 * time.Second); ; {
		left, err = p.sessions(ctx, old.Name)
		if err != nil {
			return fmt.Errorf("postgres %s: failed to list the sessions of %s: %w", p.name, old.Name, p.adminFailed(err))
		}
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(wait) {
			return fmt.Errorf("postgres %s: %d session(s) of %s outlived pg_terminate_backend (%s): look at them in pg_stat_activity", p.name, len(left), old.Name, describe(left))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("postgres %s: stopped waiting for the ended sessions of %s: %w", p.name, old.Name, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// describe lists sessions for a message, at most five.
func describe(ss []session) string {
	var parts []string
	for i, s := range ss {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("and %d more", len(ss)-5))
			break
		}
		parts = append(parts, s.String())
	}
	return strings.Join(parts, "; ")
}

// disable takes LOGIN and the password away from role, unless it has neither already.
func (p *Postgres) disable(ctx context.Context, r loginRole) error {
	if !r.Login && !r.hasPassword() {
		return nil
	}
	if _, err := p.admin(ctx, quiet+"ALTER ROLE "+ident(r.Name)+" NOLOGIN PASSWORD NULL;\n"); err != nil {
		return p.adminFailed(err)
	}
	return nil
}

// Revoke implements provider.Provider: the login role not holding next loses LOGIN and its password.
func (p *Postgres) Revoke(ctx context.Context, next string) error {
	st, err := p.snapshot(ctx)
	if err != nil {
		return err
	}
	h, old, ok := p.holder(st, next)
	if !ok || !h.Login {
		return fmt.Errorf("postgres %s: the new value is the password of neither %s nor %s with LOGIN, so revoking the other would lock every consumer out; rekey changed nothing: stage and verify it first", p.name, p.logins[0], p.logins[1])
	}
	if err := p.disable(ctx, old); err != nil {
		return fmt.Errorf("postgres %s: failed to take LOGIN and the password away from %s: %w", p.name, old.Name, err)
	}
	return nil
}

// Unstage implements provider.Provider: the login role not holding current loses LOGIN and its password.
// It does not need next.
func (p *Postgres) Unstage(ctx context.Context, current, _ string) error {
	st, err := p.snapshot(ctx)
	if err != nil {
		return err
	}
	h, staged, ok := p.holder(st, current)
	if !ok || !h.Login {
		return fmt.Errorf("postgres %s: the current value is the password of neither %s nor %s with LOGIN, so rekey cannot tell which one to take back; it changed nothing: compare with `rekey drift`", p.name, p.logins[0], p.logins[1])
	}
	if err := p.disable(ctx, staged); err != nil {
		return fmt.Errorf("postgres %s: failed to take LOGIN and the staged password away from %s: %w", p.name, staged.Name, err)
	}
	return nil
}
