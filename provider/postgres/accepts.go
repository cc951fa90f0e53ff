package postgres

import "context"

// Accepts implements reconcile.Prober: whether value is the password of a login role that may log in,
// checked against the stored SCRAM verifiers (no failed login is recorded). The executor asks it when a
// step fails mid-rotation, to see which value a restarted server accepts; PostgreSQL keeps its roles on
// disk, so after a restart it answers what it did before.
func (p *Postgres) Accepts(ctx context.Context, value string) (bool, error) {
	st, err := p.snapshot(ctx)
	if err != nil {
		return false, err
	}
	h, _, ok := p.holder(st, value)
	return ok && h.Login, nil
}

// Accepts implements reconcile.Prober for a single login role: whether value is its stored password and
// it may log in. It reads the stored verifier rather than logging in, because the official image trusts
// TCP logins from inside the container (initdb's "host all all 127.0.0.1/32 trust"), where any value
// would seem to log in: init's confirmation and drift ask this instead of Verify.
func (s *Single) Accepts(ctx context.Context, value string) (bool, error) {
	st, err := s.read(ctx)
	if err != nil {
		return false, err
	}
	return st.Login && st.holds(s.role, value), nil
}
