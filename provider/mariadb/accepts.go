package mariadb

import "context"

// Accepts implements reconcile.Prober: whether value is the password of a rotated login that is not
// locked, checked against the stored hashes (no failed login is recorded). The executor asks it when a
// step fails mid-rotation, to see which value a restarted server accepts; MariaDB keeps its users on
// disk, so after a restart it answers what it did before.
func (m *MariaDB) Accepts(ctx context.Context, value string) (bool, error) {
	if err := m.configured(); err != nil {
		return false, err
	}
	us, err := m.state(ctx)
	if err != nil {
		return false, err
	}
	h := m.holder(us, value)
	return h != nil && !h.locked, nil
}
