package mariadb

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Drain implements provider.Provider. In chain mode there is nothing to wait for: the server does not
// record which password of a chain a connection used, and changing the chain does not end sessions.
// With alternating users, it waits until the login not holding next has no session left.
func (m *MariaDB) Drain(ctx context.Context, next string) error {
	if m.chain {
		return nil
	}
	if err := m.configured(); err != nil {
		return err
	}
	us, err := m.state(ctx)
	if err != nil {
		return err
	}
	h := m.holder(us, next)
	if h == nil {
		return m.errorf("the new value is the password of none of %s: nothing to drain towards; run `rekey check`", m.who())
	}
	old := m.other(us, h).name
	deadline := time.Now().Add(m.drain)
	for {
		ss, err := m.sessions(ctx, old)
		if err != nil {
			return err
		}
		if len(ss) == 0 {
			return nil
		}
		if !time.Now().Before(deadline) {
			if !m.terminate {
				return m.errorf("%d session(s) of %s (from %s) still open after %v: they would keep the old login in use after the revoke; restart those clients so they log in as %s, or set servers.%s.terminate to end them, then run apply again",
					len(ss), account(old, m.host), hosts(ss), m.drain, account(h.name, m.host), m.name)
			}
			return m.kill(ctx, old)
		}
		if err := sleep(ctx, m.poll); err != nil {
			return m.errorf("drain of %s interrupted: %w", account(old, m.host), err)
		}
	}
}

// session is a row of information_schema.PROCESSLIST.
type session struct{ id, host string }

func (m *MariaDB) sessions(ctx context.Context, u string) ([]session, error) {
	res, err := m.query(ctx, "SELECT ID, HOST FROM information_schema.PROCESSLIST WHERE USER = "+literal(u))
	if err != nil {
		return nil, m.errorf("failed to list the sessions of %s: %w", account(u, m.host), err)
	}
	var ss []session
	for _, r := range res[0] {
		if len(r) == 2 {
			ss = append(ss, session{id: r[0], host: r[1]})
		}
	}
	return ss, nil
}

// hosts lists the client addresses of sessions, without ports, once each.
func hosts(ss []session) string {
	var hs []string
	for _, s := range ss {
		h := s.host
		if i := strings.LastIndexByte(h, ':'); i > 0 {
			h = h[:i]
		}
		if !slices.Contains(hs, h) {
			hs = append(hs, h)
		}
	}
	return strings.Join(hs, ", ")
}

// kill ends every session of u and waits (at most 10s or 10 polls) until they are gone.
func (m *MariaDB) kill(ctx context.Context, u string) error {
	wait := max(10*time.Second, 10*m.poll)
	deadline := time.Now().Add(wait)
	for {
		ss, err := m.sessions(ctx, u)
		if err != nil {
			return err
		}
		if len(ss) == 0 {
			return nil
		}
		if !time.Now().Before(deadline) {
			return m.errorf("%d session(s) of %s (from %s) survived KILL for %v: end them by hand (KILL CONNECTION id), then run apply again",
				len(ss), account(u, m.host), hosts(ss), wait)
		}
		for _, s := range ss {
			if _, err := strconv.Atoi(s.id); err != nil {
				continue
			}
			err := m.do(ctx, "KILL CONNECTION "+s.id)
			var se *sqlError
			if err != nil && !(errors.As(err, &se) && se.num == 1094) { // 1094: the session ended meanwhile
				return m.errorf("failed to end the sessions of %s: %w", account(u, m.host), err)
			}
		}
		if err := sleep(ctx, m.poll); err != nil {
			return m.errorf("drain of %s interrupted: %w", account(u, m.host), err)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
