package gitsync

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/net/proxy"
)

// SSH connections and the caller's context.
//
// go-git's SSH transport dials with context.Background() and runs the SSH
// handshake without any deadline, and the context given to Fetch or Push
// only reaches the reads and writes of the git protocol that follow. A
// server that accepts the TCP connection but never speaks SSH (or stalls
// during key exchange or authentication) would block the agent forever.
//
// go-git offers no dialer hook for SSH, except that it dials through
// golang.org/x/net/proxy when an endpoint has a proxy URL. So gitsync gives
// every SSH operation a proxy URL of its own scheme, whose dialer (sshDial)
// makes the connection itself:
//
//   - the connection is closed as soon as the operation's context is done,
//     whatever go-git is doing with it at the time;
//   - each session gets a handshake timeout covering the TCP connect, the SSH
//     handshake (version exchange, key exchange, host key check,
//     authentication) and the start of the git command on the server. The
//     handshake is known to be over when go-git's ssh transport returns the
//     session, which sshTransport (installed for ssh:// in place of go-git's
//     own, which it wraps) observes.
//
// Connections are still made through proxy.Dial, so ALL_PROXY is honoured
// as before.

// DefaultSSHHandshakeTimeout bounds, for each SSH connection, the TCP connect,
// the SSH handshake and the start of the git command on the server, unless
// WithSSHHandshakeTimeout sets another bound.
const DefaultSSHHandshakeTimeout = 30 * time.Second

// WithSSHHandshakeTimeout sets how long an SSH connection may take to be
// ready to run git: the TCP connect, the SSH handshake (including host key
// verification and authentication) and the start of git-upload-pack or
// git-receive-pack on the server. It does not bound the transfer that follows,
// which the context given to Open, Fetch and Commit bounds. d <= 0 means
// DefaultSSHHandshakeTimeout.
func WithSSHHandshakeTimeout(d time.Duration) Option {
	return func(o *options) { o.sshTimeout = d }
}

// sshDialScheme is the proxy URL scheme that routes go-git's SSH dials to
// sshDial. The URL's host is the token of the operation in sshDials.
const sshDialScheme = "rekey-gitsync-ssh"

var (
	sshDials    sync.Map // token → *sshDial
	sshDialSeq  atomic.Uint64
	errNoSSHOps = errors.New("no such gitsync ssh operation")
)

func init() {
	proxy.RegisterDialerType(sshDialScheme, func(u *url.URL, _ proxy.Dialer) (proxy.Dialer, error) {
		if d, ok := sshDials.Load(u.Host); ok {
			return d.(*sshDial), nil
		}
		return nil, fmt.Errorf("%w %q", errNoSSHOps, u.Host)
	})
}

// sshDial is the state of one network operation (a list, fetch or push) on
// an SSH remote.
type sshDial struct {
	ctx     context.Context
	timeout time.Duration
	token   string

	mu      sync.Mutex
	current *sshHandshake // the session being set up, if any
}

// sshOperation prepares an operation on r's remote under ctx. It returns the
// proxy options to pass to go-git and a function to call when the operation
// is over. For remotes other than SSH both are no-ops.
func (r *Repo) sshOperation(ctx context.Context) (transport.ProxyOptions, func()) {
	ep, err := transport.NewEndpoint(r.url)
	if err != nil || ep.Protocol != "ssh" {
		return transport.ProxyOptions{}, func() {}
	}
	timeout := r.opts.sshTimeout
	if timeout <= 0 {
		timeout = DefaultSSHHandshakeTimeout
	}
	d := &sshDial{ctx: ctx, timeout: timeout, token: strconv.FormatUint(sshDialSeq.Add(1), 10)}
	sshDials.Store(d.token, d)
	return transport.ProxyOptions{URL: sshDialScheme + "://" + d.token}, func() { sshDials.Delete(d.token) }
}

// dialFor returns the operation an endpoint belongs to, or nil for an
// endpoint not set up by sshOperation.
func dialFor(ep *transport.Endpoint) *sshDial {
	if ep == nil || ep.Proxy.URL == "" {
		return nil
	}
	u, err := url.Parse(ep.Proxy.URL)
	if err != nil || u.Scheme != sshDialScheme {
		return nil
	}
	if d, ok := sshDials.Load(u.Host); ok {
		return d.(*sshDial)
	}
	return nil
}

// Dial implements proxy.Dialer.
func (d *sshDial) Dial(network, addr string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, addr)
}

// DialContext implements proxy.ContextDialer. ctx is go-git's (bounded by
// ssh.ClientConfig.Timeout when set); the connection is also bounded by the
// operation's context and the handshake deadline.
func (d *sshDial) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	hs := d.current
	d.mu.Unlock()
	dctx, cancel := context.WithCancel(d.ctx)
	defer cancel()
	defer context.AfterFunc(ctx, cancel)()
	if hs != nil {
		var cancelDeadline context.CancelFunc
		dctx, cancelDeadline = context.WithDeadline(dctx, hs.deadline)
		defer cancelDeadline()
		hs.setAddr(addr)
	}
	conn, err := proxy.Dial(dctx, network, addr)
	if err != nil {
		return nil, err
	}
	c := &sshConn{Conn: conn}
	c.stop = context.AfterFunc(d.ctx, func() { conn.Close() })
	if hs != nil && !hs.attach(c) {
		c.Close()
		return nil, fmt.Errorf("connecting to %s: %w", addr, os.ErrDeadlineExceeded)
	}
	return c, nil
}

// sshConn is a connection closed when its operation's context is done.
type sshConn struct {
	net.Conn
	stop func() bool
}

func (c *sshConn) Close() error {
	c.stop()
	return c.Conn.Close()
}

// sshHandshake is the setup of one session: from before go-git dials until
// it returns the session (or fails).
type sshHandshake struct {
	d        *sshDial
	host     string // host:port as known before dialling
	deadline time.Time
	timer    *time.Timer

	mu      sync.Mutex
	addr    string   // the address dialled
	conn    *sshConn // once dialled
	done    bool     // go-git returned
	expired bool     // the deadline passed before go-git returned
}

// begin starts the handshake of a session to ep.
func (d *sshDial) begin(ep *transport.Endpoint) *sshHandshake {
	port := ep.Port
	if port <= 0 {
		port = gitssh.DefaultPort
	}
	hs := &sshHandshake{d: d, host: net.JoinHostPort(ep.Host, strconv.Itoa(port)), deadline: time.Now().Add(d.timeout)}
	d.mu.Lock()
	d.current = hs
	d.mu.Unlock()
	hs.timer = time.AfterFunc(d.timeout, hs.expire)
	return hs
}

func (hs *sshHandshake) setAddr(addr string) {
	hs.mu.Lock()
	hs.addr = addr
	hs.mu.Unlock()
}

// attach records the connection of the session; false when the deadline has
// already passed.
func (hs *sshHandshake) attach(c *sshConn) bool {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.expired || hs.done {
		return false
	}
	hs.conn = c
	return true
}

// expire closes the connection when the handshake is not over in time.
func (hs *sshHandshake) expire() {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.done {
		return
	}
	hs.expired = true
	if hs.conn != nil {
		hs.conn.Close()
	}
}

// end is called with what go-git returned for the session. It stops the
// deadline, closes what go-git left open on failure, and explains timeouts
// and cancellations. closeSession closes the session go-git returned.
func (hs *sshHandshake) end(err error, closeSession func()) error {
	hs.timer.Stop()
	hs.mu.Lock()
	hs.done = true
	// The dial's own deadline may have ended it before the timer ran.
	expired := hs.expired || (err != nil && !time.Now().Before(hs.deadline))
	conn, addr := hs.conn, hs.addr
	hs.mu.Unlock()
	hs.d.mu.Lock()
	if hs.d.current == hs {
		hs.d.current = nil
	}
	hs.d.mu.Unlock()
	if addr == "" {
		addr = hs.host
	}

	ctxErr := hs.d.ctx.Err()
	if err == nil && !expired && ctxErr == nil {
		return nil
	}
	if err == nil {
		closeSession() // the connection was closed under it
	} else if conn != nil {
		// go-git does not close the connection when starting the
		// command fails.
		conn.Close()
	}
	switch {
	case ctxErr != nil:
		what := "ssh handshake with " + addr
		if conn == nil {
			what = "connecting to " + addr
		}
		return &sshError{msg: fmt.Sprintf("%s stopped: %v", what, context.Cause(hs.d.ctx)), errs: []error{ctxErr, err}}
	case expired:
		what := "ssh handshake with " + addr
		if conn == nil {
			what = "connecting to " + addr
		}
		return &sshError{
			msg:  fmt.Sprintf("%s timed out after %s (no SSH server answering there, or it stalled)", what, hs.d.timeout),
			errs: []error{os.ErrDeadlineExceeded, err},
		}
	}
	return err
}

// sshError is a timed out or cancelled SSH connection. Its message says what
// happened; go-git's error (about a closed connection) stays in the chain.
type sshError struct {
	msg  string
	errs []error
}

func (e *sshError) Error() string { return e.msg }

func (e *sshError) Unwrap() []error {
	var out []error
	for _, err := range e.errs {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// sshTransport is go-git's SSH transport, with sessions of operations set up
// by sshOperation bounded as described above. Other sessions go to go-git's
// transport unchanged.
type sshTransport struct {
	inner transport.Transport
}

func (t *sshTransport) NewUploadPackSession(ep *transport.Endpoint, auth transport.AuthMethod) (transport.UploadPackSession, error) {
	d := dialFor(ep)
	if d == nil {
		return t.inner.NewUploadPackSession(ep, auth)
	}
	hs := d.begin(ep)
	s, err := t.inner.NewUploadPackSession(ep, auth)
	if err := hs.end(err, func() { s.Close() }); err != nil {
		return nil, err
	}
	return s, nil
}

func (t *sshTransport) NewReceivePackSession(ep *transport.Endpoint, auth transport.AuthMethod) (transport.ReceivePackSession, error) {
	d := dialFor(ep)
	if d == nil {
		return t.inner.NewReceivePackSession(ep, auth)
	}
	hs := d.begin(ep)
	s, err := t.inner.NewReceivePackSession(ep, auth)
	if err := hs.end(err, func() { s.Close() }); err != nil {
		return nil, err
	}
	return s, nil
}

// withContextErr makes an error of an operation that ctx ended say so (and
// match ctx's error): when the connection is closed under go-git, it reports
// a closed connection or an unexpected end of file instead.
func withContextErr(ctx context.Context, err error) error {
	ctxErr := ctx.Err()
	if err == nil || ctxErr == nil || errors.Is(err, ctxErr) {
		return err
	}
	return &sshError{msg: fmt.Sprintf("%v (%v)", context.Cause(ctx), err), errs: []error{ctxErr, err}}
}
