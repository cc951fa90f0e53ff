// Package httpapi is the driver for third-party API keys (external credentials): rekey cannot create or
// revoke them, but it can check that a key works with a declared request — the new one before any consumer
// moves to it, the old one afterwards until the operator has revoked it at the provider.
package httpapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/rekeyhq/rekey/provider"
	"github.com/rekeyhq/rekey/reconcile"
)

// Request is the declared request. The key goes into one header, where Header's "{value}" stands.
type Request struct {
	Method string // default GET
	URL    string
	Header string // e.g. "Authorization: Bearer {value}"
	// Expect are the statuses that mean the key works (default 200); Rejected those that mean it does
	// not (default 401 and 403). Anything else is an error: rekey cannot tell.
	Expect, Rejected []int
}

// API drives one key through its declared request.
type API struct {
	name   string
	req    Request
	client *http.Client
}

// New returns the driver for the provider called name. client may be nil (a 10 s timeout, no redirects:
// a redirect would carry the key to another address).
func New(name string, req Request, client *http.Client) (*API, error) {
	if req.Method == "" {
		req.Method = http.MethodGet
	}
	if len(req.Expect) == 0 {
		req.Expect = []int{http.StatusOK}
	}
	if len(req.Rejected) == 0 {
		req.Rejected = []int{http.StatusUnauthorized, http.StatusForbidden}
	}
	u, err := url.Parse(req.URL)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return nil, fmt.Errorf("http %s: url %q is not an http(s) URL", name, req.URL)
	case u.Scheme == "http" && !loopback(u.Hostname()):
		return nil, fmt.Errorf("http %s: %s would send the key in clear text: use https (http is for loopback only)", name, req.URL)
	case strings.Count(req.Header, "{value}") != 1 || !strings.Contains(req.Header, ":"):
		return nil, fmt.Errorf("http %s: header must be \"Name: …{value}…\" with {value} exactly once", name)
	}
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return &API{name: name, req: req, client: client}, nil
}

func loopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// Mechanism implements provider.Provider.
func (a *API) Mechanism() string {
	return fmt.Sprintf("API key checked with %s %s; you create and revoke keys at the provider, rekey follows the old one until it stops working", a.req.Method, a.req.URL)
}

// try makes the request with value and reports whether the key works.
func (a *API) try(ctx context.Context, value string) (bool, error) {
	if strings.ContainsAny(value, "\r\n") {
		return false, fmt.Errorf("http %s: a key holding a line break cannot go into a header", a.name)
	}
	req, err := http.NewRequestWithContext(ctx, a.req.Method, a.req.URL, nil)
	if err != nil {
		return false, fmt.Errorf("http %s: %w", a.name, err)
	}
	name, tmpl, _ := strings.Cut(a.req.Header, ":")
	req.Header.Set(strings.TrimSpace(name), strings.TrimSpace(strings.Replace(tmpl, "{value}", value, 1)))
	resp, err := a.client.Do(req)
	if err != nil {
		// net/http errors name the URL, never the header.
		return false, fmt.Errorf("http %s: %w: %w", a.name, provider.ErrUnreachable, err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case slices.Contains(a.req.Expect, resp.StatusCode):
		return true, nil
	case slices.Contains(a.req.Rejected, resp.StatusCode):
		return false, nil
	}
	return false, fmt.Errorf("http %s: %s %s answered %s, neither a working key (%v) nor a rejected one (%v)", a.name, a.req.Method, a.req.URL, resp.Status, a.req.Expect, a.req.Rejected)
}

// must fails unless the key works; what says which key, for the message.
func (a *API) must(ctx context.Context, value, what, hint string) error {
	ok, err := a.try(ctx, value)
	switch {
	case err != nil:
		return err
	case !ok:
		return fmt.Errorf("http %s: %w: %s is rejected by %s %s%s", a.name, provider.ErrRejected, what, a.req.Method, a.req.URL, hint)
	}
	return nil
}

// Check implements provider.Provider.
func (a *API) Check(ctx context.Context, current string) error {
	return a.must(ctx, current, "the current key", ": the sources hold a key the provider rejects; rekey will not rotate from it")
}

// Stage implements provider.Provider: rekey cannot create the key; it must already work.
func (a *API) Stage(ctx context.Context, _, next string) (string, error) {
	return "", a.must(ctx, next, "the new key", ": create the new credential at the provider first, then commit it")
}

// Verify implements provider.Provider.
func (a *API) Verify(ctx context.Context, next string) error {
	return a.must(ctx, next, "the new key", "")
}

// Drain implements provider.Provider: nothing to wait for.
func (a *API) Drain(context.Context, string) error { return nil }

// Revoke implements provider.Provider: only the operator can, at the provider.
func (a *API) Revoke(context.Context, string) error {
	return fmt.Errorf("http %s: revoke the old key at the provider (%s): %w", a.name, a.req.URL, reconcile.ErrRevokeByHand)
}

// Unstage implements provider.Provider: the new key stays valid; the operator created it for this rotation.
func (a *API) Unstage(context.Context, string, string) error { return nil }

// Accepts implements reconcile.Prober.
func (a *API) Accepts(ctx context.Context, value string) (bool, error) { return a.try(ctx, value) }
