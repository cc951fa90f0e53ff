package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/rekeyhq/rekey/provider"
	"github.com/rekeyhq/rekey/provider/httpapi"
	"github.com/rekeyhq/rekey/provider/providertest"
	"github.com/rekeyhq/rekey/reconcile"
)

// api is a real HTTP server on loopback standing in for a provider: the keys it accepts are managed as
// in the provider's dashboard; it counts the requests it rejected.
type api struct {
	mu       sync.Mutex
	keys     map[string]bool
	rejected int
	srv      *httptest.Server
}

func newAPI(t *testing.T, keys ...string) *api {
	a := &api{keys: map[string]bool{}}
	for _, k := range keys {
		a.keys[k] = true
	}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		defer a.mu.Unlock()
		key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		switch {
		case r.URL.Path == "/down":
			w.WriteHeader(http.StatusBadGateway)
		case !ok || !a.keys[key]:
			a.rejected++
			w.WriteHeader(http.StatusUnauthorized)
		default:
			w.Write([]byte(`{"account":"shop"}`))
		}
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *api) set(k string, on bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.keys[k] = on
}

func (a *api) driver(t *testing.T, path string) provider.Provider {
	d, err := httpapi.New("payments", httpapi.Request{URL: a.srv.URL + path, Header: "Authorization: Bearer {value}"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestExternalSuite(t *testing.T) {
	a := newAPI(t, "initial-api-key")
	providertest.RunExternal(t, providertest.ExternalHarness{
		Provider: func() provider.Provider { return a.driver(t, "/v1/me") },
		Initial:  "initial-api-key",
		Create:   func(t *testing.T, v string) { a.set(v, true) },
		Revoke:   func(t *testing.T, v string) { a.set(v, false) },
		AuthFailures: func(context.Context) (int, error) {
			a.mu.Lock()
			defer a.mu.Unlock()
			return a.rejected, nil
		},
	})
}

func TestUnknownStatusIsAnError(t *testing.T) {
	a := newAPI(t, "k")
	ok, err := a.driver(t, "/down").(reconcile.Prober).Accepts(context.Background(), "k")
	if ok || err == nil || !strings.Contains(err.Error(), "502") {
		t.Errorf("Accepts = %v, %v; want an error naming the status", ok, err)
	}
}

func TestNewRefuses(t *testing.T) {
	for _, tc := range []struct {
		req  httpapi.Request
		want string
	}{
		{httpapi.Request{URL: "http://api.example.com/me", Header: "Authorization: Bearer {value}"}, "clear text"},
		{httpapi.Request{URL: "https://api.example.com/me", Header: "Authorization: Bearer"}, "{value} exactly once"},
		{httpapi.Request{URL: "ftp://x/", Header: "X: {value}"}, "not an http(s) URL"},
	} {
		if _, err := httpapi.New("x", tc.req, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want %q", tc.req, err, tc.want)
		}
	}
}
