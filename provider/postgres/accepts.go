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
