// Package smtp checks the key of an SMTP relay (SendGrid, Mailgun, SES, Postmark, a provider's
// submission server…): an external credential, which rekey can neither create nor revoke. The operator
// creates the new key in the provider's dashboard and commits it; the relay then accepts the old and the
// new key at once, as API-key relays do, and rekey only proves it: the new key must log in before any
// consumer is rolled, and after the rotation the old key is a pending revocation that rekey keeps probing
// until the operator has revoked it at the provider.
//
// rekey talks to the relay from where it runs, like the consumers do (a relay is normally on the
// internet), over TLS with the certificate verified, and logs in with AUTH PLAIN (AUTH LOGIN when the
// relay offers no PLAIN). It never sends mail: a session is connect, TLS, EHLO, AUTH, QUIT.
package smtp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/rekeyhq/rekey/provider"
	"github.com/rekeyhq/rekey/reconcile"
)

// TLSMode is how the connection to the relay is secured.
type TLSMode string

const (
	// StartTLS connects in plain text and upgrades with STARTTLS before AUTH (port 587). The default.
	StartTLS TLSMode = "starttls"
	// ImplicitTLS speaks TLS from the first byte (port 465, "SMTPS").
	ImplicitTLS TLSMode = "tls"
	// NoTLS never encrypts: the key crosses the network in clear text, so rekey refuses it unless the
	// relay's address is loopback (a local test relay, or a tunnel that encrypts on its own).
	NoTLS TLSMode = "none"
)

// DefaultTimeout bounds one session with the relay, from connect to QUIT.
const DefaultTimeout = 10 * time.Second

// SMTP drives one key of one relay.
type SMTP struct {
	name       string
	addr       string
	user       string
	mode       TLSMode
	caFile     string
	serverName string
	timeout    time.Duration
}

// Option configures an SMTP driver.
type Option func(*SMTP)

// WithAddr sets the relay's address, host:port. Required.
func WithAddr(hostport string) Option { return func(s *SMTP) { s.addr = hostport } }

// WithUser sets the login the key belongs to (SendGrid: "apikey"; Mailgun and SES: the SMTP user name the
// provider shows). Required.
func WithUser(u string) Option { return func(s *SMTP) { s.user = u } }

// WithTLS sets how the connection is secured (default StartTLS).
func WithTLS(mode TLSMode) Option { return func(s *SMTP) { s.mode = mode } }

// WithCAFile makes rekey trust the PEM certificates in path instead of the system's roots (a private CA).
func WithCAFile(path string) Option { return func(s *SMTP) { s.caFile = path } }

// WithServerName sets the name the relay's certificate must hold (default: the host of the address).
func WithServerName(n string) Option { return func(s *SMTP) { s.serverName = n } }

// WithTimeout bounds one session with the relay (default DefaultTimeout).
func WithTimeout(d time.Duration) Option { return func(s *SMTP) { s.timeout = d } }

// New returns a driver for the relay called name (for messages). It does not connect; a configuration
// error is reported by the first method called.
func New(name string, opts ...Option) *SMTP {
	s := &SMTP{name: name, mode: StartTLS, timeout: DefaultTimeout}
	for _, o := range opts {
		o(s)
	}
	return s
}

var (
	_ provider.Provider = (*SMTP)(nil)
	_ reconcile.Prober  = (*SMTP)(nil)
)

// Mechanism implements provider.Provider.
func (s *SMTP) Mechanism() string {
	return fmt.Sprintf("external key of SMTP user %s at %s: you create the new key and revoke the old one at the provider; "+
		"rekey checks that the new key logs in before rolling, and probes the old one until it stops working", s.user, s.addr)
}

// configError says what is wrong with the driver's configuration, before any connection.
func (s *SMTP) configError() error {
	switch {
	case s.addr == "":
		return errors.New("no relay address: set it to host:port (587 for starttls, 465 for tls)")
	case s.user == "":
		return errors.New("no SMTP user: set the login the key belongs to (SendGrid: apikey; others: the SMTP user name the provider shows)")
	case s.timeout <= 0:
		return errors.New("the timeout must be positive")
	}
	host, _, err := net.SplitHostPort(s.addr)
	if err != nil {
		return fmt.Errorf("relay address %q is not host:port: %w", s.addr, err)
	}
	switch s.mode {
	case StartTLS, ImplicitTLS:
	case NoTLS:
		if !loopback(host) {
			return fmt.Errorf("tls none would send the key to %s in clear text, which anyone on the way can read: "+
				"it is allowed for a loopback address only (127.0.0.1, ::1, localhost); use starttls (port 587) or tls (port 465)", s.addr)
		}
	default:
		return fmt.Errorf("unknown tls mode %q: use starttls (port 587, the default), tls (port 465) or none (loopback only)", s.mode)
	}
	return nil
}

// loopback reports whether host is a loopback address, by name or IP. Names other than localhost are
// not resolved: what they point at may change.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *SMTP) errorf(format string, args ...any) error {
	return fmt.Errorf("smtp %s: "+format, append([]any{s.name}, args...)...)
}

// login runs one session that logs in with value. A rejected value is an error wrapping
// provider.ErrRejected, for the caller to explain; any other error is complete.
func (s *SMTP) login(ctx context.Context, value string) error {
	err := s.session(ctx, value)
	if err == nil || isRejected(err) {
		return err
	}
	return s.errorf("%w", err)
}

func isRejected(err error) bool { return errors.Is(err, provider.ErrRejected) }

// Check implements provider.Provider.
func (s *SMTP) Check(ctx context.Context, current string) error {
	err := s.login(ctx, current)
	if isRejected(err) {
		return s.errorf("the relay at %s rejects the current key of %s, as the sources hold it: %w: "+
			"rekey will not rotate from a key the relay rejects; it may have been revoked at the provider: "+
			"put the key that works in the sources first (compare with `rekey drift`)", s.addr, s.user, err)
	}
	return err
}

// Stage implements provider.Provider. rekey cannot create a key at the provider: the new one must exist
// already, so Stage only proves that it logs in, and changes nothing.
func (s *SMTP) Stage(ctx context.Context, _, next string) (string, error) {
	if err := s.login(ctx, next); err != nil {
		if isRejected(err) {
			return "", s.notCreated(err)
		}
		return "", err
	}
	return "", nil
}

// notCreated explains a rejected new key: the operator has not created it at the provider (yet).
func (s *SMTP) notCreated(err error) error {
	return s.errorf("the relay at %s rejects the new key of %s: %w: rekey cannot create SMTP keys: "+
		"create the new credential at the provider first, then commit it", s.addr, s.user, err)
}

// Verify implements provider.Provider.
func (s *SMTP) Verify(ctx context.Context, next string) error {
	if err := s.login(ctx, next); err != nil {
		if isRejected(err) {
			return s.notCreated(err)
		}
		return err
	}
	return nil
}

// Drain implements provider.Provider. A relay does not say which key a session used, and a mail session
// is short: there is nothing to wait for.
func (s *SMTP) Drain(context.Context, string) error { return nil }

// Revoke implements provider.Provider: only the operator can revoke the old key, at the provider. The
// error wraps reconcile.ErrRevokeByHand, which completes the rotation and makes the old key a pending
// revocation that rekey probes with Accepts until it stops logging in.
func (s *SMTP) Revoke(context.Context, string) error {
	return s.errorf("%w: revoke the old key of SMTP user %s in the dashboard of the provider behind %s; "+
		"rekey keeps checking it and reports the revocation pending until the relay rejects it",
		reconcile.ErrRevokeByHand, s.user, s.addr)
}

// Unstage implements provider.Provider. rekey cannot delete the new key either, and need not: the
// operator created it at the provider for this rotation, no consumer holds it after the rollback, and it
// can be committed again (or deleted at the provider) when the cause of the rollback is fixed.
func (s *SMTP) Unstage(context.Context, string, string) error { return nil }

// Accepts implements reconcile.Prober: one login with value, no mail sent.
func (s *SMTP) Accepts(ctx context.Context, value string) (bool, error) {
	err := s.login(ctx, value)
	switch {
	case err == nil:
		return true, nil
	case isRejected(err):
		return false, nil
	}
	return false, err
}
