// Package exposure is the one rule for rekey's HTTP listeners that show what the stack is made of (the
// status page, the metrics endpoint): loopback only, unless the listener asks for a password.
package exposure

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Reachable reports whether a listener on addr can be reached from other hosts. addr is a listen
// address as net.Listen takes it ("127.0.0.1:9465", "[::1]:9465", "localhost:9465"). An empty host
// (":9465"), an unspecified one ("0.0.0.0", "::"), any other IP and any host name but "localhost" count
// as reachable. An addr that is not host:port is an error.
func Reachable(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, err
	}
	return !IsLoopback(host), nil
}

// IsLoopback reports whether a listen host only accepts connections from this host.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// Check refuses a listener reachable from other hosts unless it requires authentication. what names
// the listener and fix says how to authenticate it, for the error.
func Check(what, addr string, hasAuth bool, fix string) error {
	reachable, err := Reachable(addr)
	if err != nil {
		return fmt.Errorf("invalid %s address %q: %w", what, addr, err)
	}
	if reachable && !hasAuth {
		return fmt.Errorf("the %s on %s is reachable from other hosts: bind it to 127.0.0.1 or %s", what, addr, fix)
	}
	return nil
}

// BasicAuth checks HTTP basic credentials in constant time: both are compared as SHA-256 digests, so
// that their lengths do not show either. An empty password lets nobody in.
type BasicAuth struct {
	userHash, passHash [32]byte
	noPass             bool
}

// NewBasicAuth returns a checker for user and password.
func NewBasicAuth(user, password string) *BasicAuth {
	return &BasicAuth{userHash: sha256.Sum256([]byte(user)), passHash: sha256.Sum256([]byte(password)), noPass: password == ""}
}

// Allowed reports whether r carries the credentials. Both are always compared.
func (a *BasicAuth) Allowed(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	u := sha256.Sum256([]byte(user))
	p := sha256.Sum256([]byte(pass))
	userOK := subtle.ConstantTimeCompare(u[:], a.userHash[:])
	passOK := subtle.ConstantTimeCompare(p[:], a.passHash[:])
	return ok && !a.noPass && userOK&passOK == 1
}
