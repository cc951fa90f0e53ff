package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Adopt converts a stack whose consumers log in as the owner role itself (one role, LOGIN, owning the
// objects: the usual compose setup) into the alternating layout, without downtime. It runs in two calls,
// with the consumers moved in between:
//
//  1. The first call creates what is missing of the layout, each login role as NOLOGIN IN ROLE owner
//     with SET role = owner, and gives the first login role LOGIN and the current value as its password
//     (as a verifier, like Stage). The owner keeps LOGIN and its password, so consumers still logging in
//     as the owner are not disturbed, and a consumer that switches its user name to the first login role
//     logs in with the same password it already has. Since objects already belong to the owner, and the
//     login roles act as the owner, nothing is re-owned or re-granted. The call verifies the new login
//     with a real TCP login, and returns an error wrapping ErrAdoptPending that names the login role.
//  2. The caller then writes that user name where the consumers read it (the login_env variable) and
//     rolls them. The next call finds the login role ready and changes nothing on it; if sessions still
//     log in as the owner, it fails with ErrAdoptPending and lists them; otherwise it takes LOGIN and the
//     password away from the owner, and the layout is complete: Check passes with the same value, and the
//     next rotation stages the second login role.
//
// The owner loses LOGIN only in a call that found the layout already staged (never in the call that
// staged it), and only when pg_stat_activity shows no session of the owner. A consumer that was not
// connected at that moment and still logs in as the owner would be locked out: move all of them in step 2.
// Every call is idempotent, checks everything before changing anything, and a call on a stack already
// adopted does what Check does. Values travel as in the other methods: verifiers in SQL, the value itself
// only on stdin for the one login.
func (p *Postgres) Adopt(ctx context.Context, current string) error {
	st, err := p.readSupported(ctx)
	if err != nil {
		return err
	}
	if st.Owner == nil {
		return fmt.Errorf("postgres %s: owner role %s does not exist: Adopt converts a stack whose consumers log in as the owner role; check servers.%s.user", p.name, p.owner, p.name)
	}
	if !st.Owner.Login {
		// Adopted already (or never needed): the layout must be whole, and Check says so.
		return p.Check(ctx, current)
	}
	if st.Database == nil {
		return fmt.Errorf("postgres %s: database %s does not exist: set servers.%s.database to the database the consumers use", p.name, p.database, p.name)
	}
	if st.Owner.Password == nil || !accepts(*st.Owner.Password, p.owner, current) {
		return fmt.Errorf("postgres %s: the current value, as the sources hold it, is not the password of the owner role %s, which consumers log in as before Adopt: rekey will not adopt from a value the server rejects; compare with `rekey drift`", p.name, p.owner)
	}
	if err := p.login(ctx, p.owner, current); err != nil {
		return p.loginFailed(p.owner, "the current value", err)
	}

	// What exists of the layout must be right: Adopt only creates, it does not repair.
	a, b := p.roles(st)
	var create []string
	for i, r := range []loginRole{a, b} {
		if r.Name == "" {
			create = append(create, p.logins[i])
		}
	}
	var problems []string
	for _, r := range []loginRole{a, b} {
		if r.Name == "" {
			continue
		}
		if !r.Member {
			problems = append(problems, fmt.Sprintf("login role %s is not a member of %s (GRANT %s TO %s;)", r.Name, p.owner, ident(p.owner), ident(r.Name)))
		}
		if v, _, ok := r.roleSetting(); !ok || v != p.owner {
			problems = append(problems, fmt.Sprintf("login role %s does not act as %s (ALTER ROLE %s SET role = %s;)", r.Name, p.owner, ident(r.Name), literal(p.owner)))
		}
		if r.Login && !r.holds(current) {
			problems = append(problems, fmt.Sprintf("login role %s can log in with another password than the owner's (ALTER ROLE %s NOLOGIN PASSWORD NULL; once nothing logs in as it)", r.Name, ident(r.Name)))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("postgres %s: rekey will not adopt: %s; fix that as a superuser, or drop the login roles and let Adopt create them", p.name, strings.Join(problems, "; "))
	}

	// Step 1: create and stage. The first login role takes the owner's password, unless one of them
	// holds it already with LOGIN (a repeated call).
	active := ""
	for _, r := range []loginRole{a, b} {
		if r.Name != "" && r.Login && r.holds(current) {
			active = r.Name
			break
		}
	}
	if len(create) > 0 || active == "" {
		var sql strings.Builder
		sql.WriteString(quiet + "BEGIN;\n")
		for _, name := range create {
			fmt.Fprintf(&sql, "CREATE ROLE %s NOLOGIN IN ROLE %s;\nALTER ROLE %[1]s SET role = %s;\n", ident(name), ident(p.owner), literal(p.owner))
		}
		if active == "" {
			active = p.logins[0]
			v, err := newVerifier(current)
			if err != nil {
				return fmt.Errorf("postgres %s: %w", p.name, err)
			}
			fmt.Fprintf(&sql, "ALTER ROLE %s LOGIN PASSWORD %s;\n", ident(active), literal(v))
			fmt.Fprintf(&sql, "DO $rekey$ BEGIN IF (SELECT rolpassword FROM pg_authid WHERE rolname = %s) IS DISTINCT FROM %s THEN RAISE EXCEPTION 'the server did not store the SCRAM verifier rekey sent'; END IF; END $rekey$;\n", literal(active), literal(v))
		}
		sql.WriteString("COMMIT;\n")
		if _, err := p.admin(ctx, sql.String()); err != nil {
			return fmt.Errorf("postgres %s: failed to create the login roles: %w", p.name, p.adminFailed(err))
		}
		if err := p.login(ctx, active, current); err != nil {
			return p.loginFailed(active, "the current value", err)
		}
		return fmt.Errorf("postgres %s: %w: %s now logs in with the same password as %s; write %s as the user name of every consumer (login_env), roll them, then adopt again to take LOGIN away from %s", p.name, ErrAdoptPending, active, p.owner, active, p.owner)
	}

	// Step 2: the consumers were moved; the owner's sessions tell whether all of them were.
	left, err := p.sessions(ctx, p.owner)
	if err != nil {
		return fmt.Errorf("postgres %s: failed to list the sessions of %s: %w", p.name, p.owner, p.adminFailed(err))
	}
	if len(left) > 0 {
		return fmt.Errorf("postgres %s: %w: %d session(s) still logged in as %s (%s): move those consumers to %s (login_env) and roll them, then adopt again", p.name, ErrAdoptPending, len(left), p.owner, describe(left), active)
	}
	if _, err := p.admin(ctx, quiet+"ALTER ROLE "+ident(p.owner)+" NOLOGIN PASSWORD NULL;\n"); err != nil {
		return fmt.Errorf("postgres %s: failed to take LOGIN away from %s: %w", p.name, p.owner, p.adminFailed(err))
	}
	return p.Check(ctx, current)
}

// ErrAdoptPending marks an Adopt that went as far as it could while consumers may still log in as the
// owner role: move them to the login role it names, then call Adopt again.
var ErrAdoptPending = errors.New("adoption pending")

// AdoptLogin returns the login role that holds current and may log in — the one Adopt staged — or "" if
// none does yet.
func (p *Postgres) AdoptLogin(ctx context.Context, current string) (string, error) {
	st, err := p.readSupported(ctx)
	if err != nil {
		return "", err
	}
	a, b := p.roles(st)
	for _, r := range []loginRole{a, b} {
		if r.Name != "" && r.Login && r.holds(current) {
			return r.Name, nil
		}
	}
	return "", nil
}
