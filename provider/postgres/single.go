package postgres

import (
	"context"
	"fmt"

	"github.com/rekeyhq/rekey/provider"
)

// Single drives one login role that consumers always log in as: PostgreSQL keeps one password per role, so
// there is no overlap. It serves the swap strategy only — consumers are stopped while the password
// changes — and refuses to stage.
type Single struct {
	p    *Postgres
	role string
}

// NewSingle returns the driver for the login role role on the server called name. Options as for New;
// WithDatabase defaults to the role's name.
func NewSingle(name string, exec provider.Exec, role string, opts ...Option) *Single {
	p := New(name, exec, append([]Option{WithDatabase(role)}, opts...)...)
	return &Single{p: p, role: role}
}

// Mechanism implements provider.Provider.
func (s *Single) Mechanism() string {
	return fmt.Sprintf("PostgreSQL login role %s has one password: no overlap, swapped with consumers stopped", s.role)
}

type singleState struct {
	Version     int     `json:"version"`
	VersionText string  `json:"version_text"`
	Admin       string  `json:"admin"`
	Superuser   bool    `json:"superuser"`
	Exists      bool    `json:"exists"`
	Login       bool    `json:"login"`
	Password    *string `json:"password"`
}

// read reads the version, the admin's rights and the role, in one session.
func (s *Single) read(ctx context.Context) (*singleState, error) {
	p, role := s.p, literal(s.role)
	sql := `SELECT json_build_object('version', current_setting('server_version_num')::int,
	'version_text', current_setting('server_version'), 'admin', current_user, 'superuser', rolsuper)
	FROM pg_roles WHERE rolname = current_user;
SELECT rolsuper AS rekey_superuser FROM pg_roles WHERE rolname = current_user \gset
\if :rekey_superuser
SELECT json_build_object('exists', count(*) > 0, 'login', bool_or(rolcanlogin), 'password', max(rolpassword))
	FROM pg_authid WHERE rolname = ` + role + `;
\endif
`
	out, err := p.admin(ctx, sql)
	if err != nil {
		return nil, p.adminFailed(err)
	}
	var st singleState
	if err := decode(out, &st); err != nil {
		return nil, fmt.Errorf("postgres %s: %w", p.name, err)
	}
	switch {
	case st.Version < minVersion:
		return nil, fmt.Errorf("postgres %s: PostgreSQL %s has no SCRAM-SHA-256 passwords (needs 10 or later)", p.name, st.VersionText)
	case !st.Superuser:
		return nil, fmt.Errorf("postgres %s: the admin role %s is not a superuser: rekey checks values against the stored password verifiers in pg_authid, which only a superuser may read; set servers.%s.admin.user to a superuser (default postgres)", p.name, st.Admin, p.name)
	}
	var role2 singleState
	if err := decode(out, &role2, &role2); err != nil {
		return nil, fmt.Errorf("postgres %s: %w", p.name, err)
	}
	st.Exists, st.Login, st.Password = role2.Exists, role2.Login, role2.Password
	if !st.Exists {
		return nil, fmt.Errorf("postgres %s: login role %s does not exist: check servers.%s.user", p.name, s.role, p.name)
	}
	return &st, nil
}

func (st *singleState) holds(role, value string) bool {
	return st.Password != nil && accepts(*st.Password, role, value)
}

// Check implements provider.Provider.
func (s *Single) Check(ctx context.Context, current string) error {
	p := s.p
	st, err := s.read(ctx)
	if err != nil {
		return err
	}
	if !st.Login {
		return fmt.Errorf("postgres %s: login role %s may not log in (NOLOGIN): the consumers cannot be using it", p.name, s.role)
	}
	if err := p.login(ctx, s.role, current); err != nil {
		if isRejected(err) {
			return fmt.Errorf("postgres %s: the current value, as the sources hold it, does not log in as %s (%v): rekey will not swap from a value the server rejects; compare with `rekey drift` and fix the source or the server first", p.name, s.role, err)
		}
		return p.loginFailed(s.role, "the current value", err)
	}
	if !st.holds(s.role, current) {
		return fmt.Errorf("postgres %s: the current value logs in as %s, yet it is not the password stored for it: the server does not check passwords on TCP connections from inside its container (trust in pg_hba.conf?); require scram-sha-256 there first", p.name, s.role)
	}
	return nil
}

// Stage implements provider.Provider: one password per role, so there is nothing to stage.
func (s *Single) Stage(context.Context, string, string) (string, error) {
	return "", fmt.Errorf("postgres %s: login role %s has one password, so the old and the new cannot overlap: set strategy: swap on the secret, or move to alternating login roles (docs/providers.md)", s.p.name, s.role)
}

// Verify implements provider.Provider.
func (s *Single) Verify(ctx context.Context, next string) error {
	if err := s.p.login(ctx, s.role, next); err != nil {
		if isRejected(err) {
			return fmt.Errorf("postgres %s: the new value does not log in as %s (%v)", s.p.name, s.role, err)
		}
		return s.p.loginFailed(s.role, "the new value", err)
	}
	return nil
}

// Drain implements provider.Provider: with consumers stopped there is nothing to wait for.
func (s *Single) Drain(context.Context, string) error { return nil }

// Revoke implements provider.Provider: the role's password becomes next.
func (s *Single) Revoke(ctx context.Context, next string) error {
	return s.set(ctx, next, "swap in the new")
}

// Swap implements reconcile.Swapper: the role's password becomes next.
func (s *Single) Swap(ctx context.Context, _, next string) error {
	return s.set(ctx, next, "swap in the new")
}

// Unstage implements provider.Provider: the role's password becomes current again.
func (s *Single) Unstage(ctx context.Context, current, _ string) error {
	return s.set(ctx, current, "put back the old")
}

// set makes value the role's password (as a SCRAM verifier, never in clear), unless it already is.
func (s *Single) set(ctx context.Context, value, what string) error {
	p := s.p
	if value == "" {
		return fmt.Errorf("postgres %s: refusing an empty password", p.name)
	}
	st, err := s.read(ctx)
	if err != nil {
		return err
	}
	if st.holds(s.role, value) {
		return nil
	}
	v, err := newVerifier(value)
	if err != nil {
		return fmt.Errorf("postgres %s: %w", p.name, err)
	}
	sql := quiet + "ALTER ROLE " + ident(s.role) + " PASSWORD " + literal(v) + ";\n"
	if _, err := p.admin(ctx, sql); err != nil {
		return fmt.Errorf("postgres %s: failed to %s password of %s: %w", p.name, what, s.role, p.adminFailed(err))
	}
	return nil
}
