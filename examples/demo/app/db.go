package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// hits counts requests in PostgreSQL the way real apps use a database: a pool of long-lived connections,
// and a fresh connection for every fifth call (a cron script, a short-lived worker). During a rotation with
// a real overlap neither kind ever fails to log in.
type hits struct {
	pool  *pgxpool.Pool
	conn  *pgx.ConnConfig
	calls atomic.Int64
}

// errDBAuth is a rejected login: the password this process holds is not accepted.
var errDBAuth = errors.New("postgres auth failed")

func newHits(ctx context.Context, addr, user, password, database string) (*hits, error) {
	host, port, err := splitHostPort(addr)
	if err != nil {
		return nil, err
	}
	// The demo network is private: no TLS. The password is set after parsing, never in the string.
	cfg, err := pgxpool.ParseConfig(fmt.Sprintf("host=%s port=%d dbname=%s sslmode=disable application_name=demoapp connect_timeout=2", host, port, database))
	if err != nil {
		return nil, err
	}
	cc := cfg.ConnConfig
	cc.User, cc.Password = user, password
	cfg.MaxConns, cfg.MinConns = 4, 2
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	h := &hits{pool: pool, conn: cc}
	// The table belongs to the owner role whichever login role creates it (ALTER ROLE … SET role).
	_, err = pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS demo_hits (id int PRIMARY KEY, n bigint NOT NULL);
INSERT INTO demo_hits VALUES (1, 0) ON CONFLICT DO NOTHING`)
	if err != nil {
		pool.Close()
		return nil, dbError(err)
	}
	return h, nil
}

// Hit increments the counter and returns the new value.
func (h *hits) Hit(ctx context.Context) (int64, error) {
	const q = `UPDATE demo_hits SET n = n + 1 WHERE id = 1 RETURNING n`
	var n int64
	if h.calls.Add(1)%5 == 0 {
		c, err := pgx.ConnectConfig(ctx, h.conn.Copy())
		if err != nil {
			return 0, dbError(err)
		}
		defer c.Close(context.WithoutCancel(ctx))
		return n, dbError(c.QueryRow(ctx, q).Scan(&n))
	}
	return n, dbError(h.pool.QueryRow(ctx, q).Scan(&n))
}

// Ping checks a pooled connection.
func (h *hits) Ping(ctx context.Context) error { return dbError(h.pool.Ping(ctx)) }

// dbError marks rejected logins (SQLSTATE 28P01 invalid_password, 28000 invalid_authorization) as errDBAuth.
func dbError(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (pe.Code == "28P01" || pe.Code == "28000") {
		return fmt.Errorf("%w: %s", errDBAuth, pe.Message)
	}
	return err
}

func splitHostPort(addr string) (string, uint16, error) {
	var host string
	var port uint16 = 5432
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			var p int
			if _, err := fmt.Sscanf(addr[i+1:], "%d", &p); err != nil || p <= 0 || p > 65535 {
				return "", 0, fmt.Errorf("bad port in %q", addr)
			}
			return addr[:i], uint16(p), nil
		}
	}
	host = addr
	return host, port, nil
}
