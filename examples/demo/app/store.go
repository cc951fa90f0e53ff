package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// store counts accepted jobs in Redis, the way real apps use it: a small pool
// of long-lived connections, each authenticated once when dialled, plus a
// fresh connection for every fifth call (short-lived workers, cron scripts).
// A rotation with a real overlap never fails either kind. A connection that
// breaks (Redis restarted) is dropped and the call retried once on a new one.
type store struct {
	addr, user, password string
	pool                 chan *conn
	calls                atomic.Int64
	authFailures         atomic.Int64
}

type conn struct {
	c net.Conn
	r *bufio.Reader
}

// errAuth is a rejected AUTH: the password this process holds is not accepted.
var errAuth = errors.New("redis auth failed")

func newStore(addr, user, password string, size int) *store {
	return &store{addr: addr, user: user, password: password, pool: make(chan *conn, size)}
}

// Incr increments key and returns the new value.
func (s *store) Incr(ctx context.Context, key string) (int64, error) {
	fresh := s.calls.Add(1)%5 == 0
	v, err := s.incr(ctx, key, fresh)
	if err != nil && !errors.Is(err, errAuth) {
		v, err = s.incr(ctx, key, true) // a pooled connection the server closed
	}
	return v, err
}

func (s *store) incr(ctx context.Context, key string, fresh bool) (int64, error) {
	c, err := s.get(ctx, fresh)
	if err != nil {
		return 0, err
	}
	reply, err := c.do("INCR", key)
	if err != nil {
		c.c.Close()
		return 0, err
	}
	if fresh {
		c.c.Close()
	} else {
		s.put(c)
	}
	return strconv.ParseInt(reply, 10, 64)
}

func (s *store) get(ctx context.Context, fresh bool) (*conn, error) {
	if !fresh {
		select {
		case c := <-s.pool:
			return c, nil
		default:
		}
	}
	d := net.Dialer{Timeout: 2 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return nil, err
	}
	c := &conn{c: nc, r: bufio.NewReader(nc)}
	args := []string{"AUTH", s.password}
	if s.user != "" {
		args = []string{"AUTH", s.user, s.password}
	}
	if _, err := c.do(args...); err != nil {
		nc.Close()
		if strings.HasPrefix(err.Error(), "WRONGPASS") {
			s.authFailures.Add(1)
			return nil, fmt.Errorf("%w: %v", errAuth, err)
		}
		return nil, err
	}
	return c, nil
}

func (s *store) put(c *conn) {
	select {
	case s.pool <- c:
	default:
		c.c.Close()
	}
}

// do sends one command and reads a simple, integer or bulk reply.
func (c *conn) do(args ...string) (string, error) {
	c.c.SetDeadline(time.Now().Add(2 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	line, err := c.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", errors.New(line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return "", fmt.Errorf("unexpected reply %q", line[:1])
}
