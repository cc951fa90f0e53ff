package live

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rekeyhq/rekey/provider"
	"github.com/rekeyhq/rekey/reconcile"
)

// ServerFinder finds the driver of a credential server by name. *Credentials implements it.
type ServerFinder interface {
	Server(name string) (reconcile.Credential, error)
}

// ServerVerdicts remembers what each credential server said of a value, so that the agent's scans, which
// run every few minutes and on every file change, log in to a server at most once per Every. A nil
// *ServerVerdicts asks every time (`rekey drift`).
type ServerVerdicts struct {
	Every time.Duration
	Now   func() time.Time // time.Now when nil

	mu   sync.Mutex
	seen map[string]verdict // by server and the value's fingerprint
}

type verdict struct {
	at  time.Time
	out reconcile.LiveServer
}

// NewServerVerdicts asks each server at most once per every.
func NewServerVerdicts(every time.Duration) *ServerVerdicts {
	return &ServerVerdicts{Every: every}
}

func (v *ServerVerdicts) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// get returns the verdict on (server, fp) if it is recent enough.
func (v *ServerVerdicts) get(key string) (reconcile.LiveServer, bool) {
	if v == nil {
		return reconcile.LiveServer{}, false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	got, ok := v.seen[key]
	if !ok || v.now().Sub(got.at) >= v.Every {
		return reconcile.LiveServer{}, false
	}
	return got.out, true
}

func (v *ServerVerdicts) put(key string, out reconcile.LiveServer) {
	if v == nil {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.seen == nil {
		v.seen = map[string]verdict{}
	}
	now := v.now()
	for k, old := range v.seen { // verdicts on values Git no longer holds are never asked for again
		if now.Sub(old.at) >= v.Every {
			delete(v.seen, k)
		}
	}
	v.seen[key] = verdict{at: now, out: out}
}

// askServer asks sec's credential server whether Git's value logs in, through the cheapest call of its
// driver that changes nothing: the Prober's Accepts where the driver has one, else Verify (a login). A
// server that cannot be reached is unknown; any other failure of Verify is the server refusing the value.
func (s *DriftScanner) askServer(ctx context.Context, sec reconcile.Secret) reconcile.LiveServer {
	name := sec.Server.Name
	key := name + "\x00" + sec.DesiredFP
	if got, ok := s.Verdicts.get(key); ok {
		return got
	}
	out := reconcile.LiveServer{Name: name}
	accepts, err := s.probeServer(ctx, sec)
	switch {
	case ctx.Err() != nil:
		// Cancelled, not the server's verdict: not remembered.
		out.Err = fmt.Sprintf("server %s: not asked: %v", name, ctx.Err())
		return out
	case err != nil:
		out.Err = err.Error()
	default:
		out.Accepts = accepts
	}
	s.Verdicts.put(key, out)
	return out
}

func (s *DriftScanner) probeServer(ctx context.Context, sec reconcile.Secret) (bool, error) {
	if s.ServersErr != nil {
		return false, s.ServersErr
	}
	value, ok := s.Values[sec.Name]
	if !ok || value == "" {
		return false, fmt.Errorf("server %s: Git holds no value of %s to log in with", sec.Server.Name, sec.Name)
	}
	cr, err := s.Servers.Server(sec.Server.Name)
	if err != nil {
		return false, err
	}
	if _, ok := cr.(reconcile.Prober); ok {
		return Login(ctx, cr, value)
	}
	accepted, err := Login(ctx, cr, value)
	if err != nil && !errors.Is(err, provider.ErrUnreachable) {
		return false, nil // the server refused the value
	}
	return accepted, err
}

// Login asks a credential server whether value logs in, through the cheapest call of its driver that
// changes nothing: the Prober's Accepts where the driver has one (an error: cannot tell), else Verify, a
// real login (an error wrapping provider.ErrUnreachable: cannot tell; any other: the server's refusal,
// with its reason). Drift and `rekey init` ask through it.
func Login(ctx context.Context, cr reconcile.Credential, value string) (bool, error) {
	if p, ok := cr.(reconcile.Prober); ok {
		return p.Accepts(ctx, value)
	}
	if err := cr.Verify(ctx, value); err != nil {
		return false, err
	}
	return true, nil
}
