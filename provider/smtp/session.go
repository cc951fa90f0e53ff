package smtp

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/rekeyhq/rekey/provider"
)

// The session is written on net/textproto rather than net/smtp, whose Client.Auth answers a failed AUTH
// with a stray "*" line, and whose PlainAuth decides on its own when clear text is fine (always for a
// server named localhost) and refuses a server name that differs from the certificate's: here the TLS
// mode alone decides, and the key is never sent before TLS unless the mode is none on a loopback address.

// client is one SMTP session.
type client struct {
	ctx  context.Context
	addr string
	conn net.Conn
	text *textproto.Conn
	tls  bool
	ext  map[string]string // EHLO keywords (upper case) → their parameters
}

// helo is the name rekey greets with. Submission servers do not check it; localhost is what most
// clients (Go's net/smtp among them) send.
const helo = "localhost"

// session connects, secures the connection as configured, logs in as the user with value, and quits.
func (s *SMTP) session(ctx context.Context, value string) error {
	if err := s.configError(); err != nil {
		return err
	}
	conf, err := s.tlsConfig()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("%w: failed to connect to the relay at %s: %w", provider.ErrUnreachable, s.addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	// A cancelled ctx ends any read or write in progress.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c := &client{ctx: ctx, addr: s.addr, conn: conn}
	if s.mode == ImplicitTLS {
		if err := c.handshake(conf, true); err != nil {
			return err
		}
	}
	c.text = textproto.NewConn(c.conn)
	if err := c.greeting(s.mode); err != nil {
		return err
	}
	if err := c.hello(); err != nil {
		return err
	}
	if s.mode == StartTLS {
		if err := c.startTLS(conf); err != nil {
			return err
		}
	}
	err = c.auth(s.user, value, s.mode == NoTLS)
	c.quit()
	return err
}

// tlsConfig verifies the relay's certificate against the system roots or the CA file, for the server
// name or the address's host.
func (s *SMTP) tlsConfig() (*tls.Config, error) {
	host, _, _ := net.SplitHostPort(s.addr)
	conf := &tls.Config{ServerName: cmp.Or(s.serverName, host), MinVersion: tls.VersionTLS12}
	if s.caFile == "" {
		return conf, nil
	}
	pem, err := os.ReadFile(s.caFile)
	if err != nil {
		return nil, fmt.Errorf("failed to read the CA file: %w", err)
	}
	conf.RootCAs = x509.NewCertPool()
	if !conf.RootCAs.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("the CA file %s holds no PEM certificate", s.caFile)
	}
	return conf, nil
}

// handshake secures the connection, from the first byte (implicit) or after STARTTLS.
func (c *client) handshake(conf *tls.Config, implicit bool) error {
	tc := tls.Client(c.conn, conf)
	if err := tc.HandshakeContext(c.ctx); err != nil {
		var verr *tls.CertificateVerificationError
		var rerr tls.RecordHeaderError
		switch {
		case errors.As(err, &verr):
			return fmt.Errorf("the certificate of the relay at %s is not trusted for %s: %w: if the relay uses a private CA, "+
				"set the CA file to the certificate that signed it; if the certificate names another host, set the server name to it",
				c.addr, conf.ServerName, verr.Err)
		case errors.As(err, &rerr) && implicit:
			return fmt.Errorf("the relay at %s does not speak TLS from the first byte: if it is a STARTTLS port (587), set tls to starttls", c.addr)
		case isNetError(err):
			return c.ioError("in the TLS handshake", err)
		}
		return fmt.Errorf("the TLS handshake with the relay at %s failed: %w", c.addr, err)
	}
	c.conn, c.tls = tc, true
	return nil
}

// cmd sends one command and reads its reply, whatever its code.
func (c *client) cmd(format string, args ...any) (int, string, error) {
	id, err := c.text.Cmd(format, args...)
	if err != nil {
		return 0, "", err
	}
	c.text.StartResponse(id)
	defer c.text.EndResponse(id)
	return c.text.ReadResponse(0)
}

// greeting reads the relay's 220.
func (c *client) greeting(mode TLSMode) error {
	code, msg, err := c.text.ReadResponse(0)
	switch {
	case err != nil && isTimeout(err) && mode == StartTLS && !errors.Is(c.ctx.Err(), context.Canceled):
		return fmt.Errorf("%w: the relay at %s sent no greeting in time: if it is an implicit-TLS port (465), set tls to tls",
			provider.ErrUnreachable, c.addr)
	case err != nil:
		return c.ioError("waiting for its greeting", err)
	case code != 220:
		return fmt.Errorf("the relay at %s refused the connection: %d %s", c.addr, code, oneLine(msg))
	}
	return nil
}

// hello sends EHLO and records the extensions the relay offers.
func (c *client) hello() error {
	code, msg, err := c.cmd("EHLO %s", helo)
	if err != nil {
		return c.ioError("after EHLO", err)
	}
	if code != 250 {
		return fmt.Errorf("the relay at %s refused EHLO (%d %s): it does not speak ESMTP, so it offers no AUTH", c.addr, code, oneLine(msg))
	}
	c.ext = map[string]string{}
	lines := strings.Split(msg, "\n")
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(l), " ")
		if k, old, ok := strings.Cut(k, "="); ok { // AUTH=LOGIN PLAIN, from before RFC 4954
			c.ext[strings.ToUpper(k)] = strings.TrimSpace(old + " " + v)
			continue
		}
		c.ext[strings.ToUpper(k)] = v
	}
	return nil
}

// startTLS upgrades the connection and greets again: what the relay offered before TLS is not to be
// trusted.
func (c *client) startTLS(conf *tls.Config) error {
	if _, ok := c.ext["STARTTLS"]; !ok {
		return fmt.Errorf("the relay at %s does not offer STARTTLS, and rekey sends no key over an unencrypted connection: "+
			"if it is an implicit-TLS port (465), set tls to tls", c.addr)
	}
	code, msg, err := c.cmd("STARTTLS")
	if err != nil {
		return c.ioError("after STARTTLS", err)
	}
	if code != 220 {
		return fmt.Errorf("the relay at %s refused STARTTLS: %d %s", c.addr, code, oneLine(msg))
	}
	if err := c.handshake(conf, false); err != nil {
		return err
	}
	c.text = textproto.NewConn(c.conn)
	return c.hello()
}

// auth logs in with AUTH PLAIN, or AUTH LOGIN when the relay offers no PLAIN. plain allows an
// unencrypted connection (the none mode, on a loopback address only).
func (c *client) auth(user, value string, plain bool) error {
	if !c.tls && !plain {
		return errors.New("refusing to send the key over an unencrypted connection") // unreachable: a guard
	}
	mechs, ok := c.ext["AUTH"]
	if !ok {
		if !c.tls {
			return fmt.Errorf("the relay at %s offers no AUTH over an unencrypted connection: it wants TLS first: set tls to starttls or tls", c.addr)
		}
		return fmt.Errorf("the relay at %s offers no AUTH: is it a submission port (587 or 465)? Port 25 often has none", c.addr)
	}
	offered := strings.Fields(strings.ToUpper(mechs))
	var code int
	var msg string
	var err error
	switch {
	case slices.Contains(offered, "PLAIN"):
		code, msg, err = c.cmd("AUTH PLAIN %s", b64("\x00"+user+"\x00"+value))
	case slices.Contains(offered, "LOGIN"):
		code, msg, err = c.cmd("AUTH LOGIN")
		for _, answer := range []string{user, value} {
			if err != nil || code != 334 {
				break
			}
			code, msg, err = c.cmd("%s", b64(answer))
		}
	default:
		return fmt.Errorf("the relay at %s offers AUTH %s: rekey speaks PLAIN and LOGIN", c.addr, mechs)
	}
	if err != nil {
		return c.ioError("after AUTH", err)
	}
	switch {
	case code == 235:
		return nil
	case code == 535:
		return fmt.Errorf("%w (%d %s)", provider.ErrRejected, code, oneLine(msg))
	case code == 454 || code == 421:
		return fmt.Errorf("the relay at %s could not check the key for now (%d %s): try again later", c.addr, code, oneLine(msg))
	case code == 538 || (code == 530 && !c.tls):
		return fmt.Errorf("the relay at %s wants TLS before AUTH (%d %s): set tls to starttls or tls", c.addr, code, oneLine(msg))
	}
	return fmt.Errorf("the relay at %s refused AUTH: %d %s", c.addr, code, oneLine(msg))
}

// quit ends the session politely; its outcome does not matter any more.
func (c *client) quit() {
	c.cmd("QUIT")
	c.text.Close()
}

// ioError explains a failed read or write: the relay is unreachable, or did not answer as SMTP.
func (c *client) ioError(when string, err error) error {
	var perr textproto.ProtocolError
	switch {
	case errors.As(err, &perr):
		return fmt.Errorf("the relay at %s does not answer as an SMTP server (%s): %w", c.addr, when, err)
	case errors.Is(c.ctx.Err(), context.Canceled):
		return fmt.Errorf("%w: the session with the relay at %s was cancelled (%s): %w", provider.ErrUnreachable, c.addr, when, c.ctx.Err())
	case isTimeout(err):
		return fmt.Errorf("%w: the relay at %s did not answer in time (%s)", provider.ErrUnreachable, c.addr, when)
	}
	return fmt.Errorf("%w: the connection to the relay at %s failed %s: %w", provider.ErrUnreachable, c.addr, when, err)
}

// isNetError reports whether err comes from the connection rather than from TLS itself.
func isNetError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// oneLine is a reply's text on one line.
func oneLine(msg string) string { return strings.Join(strings.Fields(msg), " ") }
