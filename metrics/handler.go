package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/rekeyhq/rekey/internal/exposure"
)

// shutdownGrace is how long Serve waits for in-flight scrapes and probes when its context ends.
const shutdownGrace = 5 * time.Second

// Handler serves, for GET and HEAD only:
//
//	/metrics  the Prometheus text exposition of the registry
//	/healthz  200 "ok" while Beat is called within the liveness window, else 503 and one line saying why
//	/readyz   200 "ok" after SetReady(true, ""), else 503 and one line saying why
//
// Every other path answers 404 and every other method 405. Paths match exactly, so the handler can be
// mounted at "/" or on each of the three paths of a caller's mux. With WithBasicAuth, a request without
// the credentials gets 401 and a challenge, whatever its path.
func (m *Metrics) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.auth != nil && !m.auth.Allowed(r) {
			w.Header().Set("WWW-Authenticate", `Basic realm="rekey metrics", charset="UTF-8"`)
			text(w, http.StatusUnauthorized, "unauthorized")
			return
		}
		var serve func(http.ResponseWriter, *http.Request)
		switch r.URL.Path {
		case "/metrics":
			serve = m.metricsHandler.ServeHTTP
		case "/healthz":
			serve = func(w http.ResponseWriter, _ *http.Request) { probe(w, m.live) }
		case "/readyz":
			serve = func(w http.ResponseWriter, _ *http.Request) { probe(w, m.readiness) }
		default:
			text(w, http.StatusNotFound, "not found")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			text(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		serve(w, r)
	})
}

// CheckExposure refuses a metrics address other hosts can reach unless basic auth is on: the metrics
// name every secret, and the probes say why the agent is not ready. It is the status page's rule
// (exposure.Reachable): loopback ("127.0.0.1", "::1", "localhost") only, unless authenticated; an empty
// or unspecified host counts as reachable. It also refuses an address that is not host:port.
func CheckExposure(addr string, hasAuth bool) error {
	return exposure.Check("metrics endpoint", addr, hasAuth, "set --metrics-basic-auth-file")
}

// Serve listens on addr and serves Handler until ctx ends, then shuts down gracefully. It returns nil
// after a clean shutdown and an error if it cannot listen or the server fails. It refuses, before
// listening, an addr that CheckExposure refuses given whether WithBasicAuth was set.
func (m *Metrics) Serve(ctx context.Context, addr string) error {
	if err := CheckExposure(addr, m.auth != nil); err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("failed to listen for metrics on %s: %w", addr, err)
	}
	return m.serve(ctx, ln)
}

// serve is Serve on a given listener, which it closes.
func (m *Metrics) serve(ctx context.Context, ln net.Listener) error {
	// Bounded reads and writes: the endpoints take no body, and a slow client must not hold
	// connections open forever.
	srv := &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute,
		MaxHeaderBytes: 64 << 10}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc: // Serve only returns on failure here: nobody called Shutdown yet
		return fmt.Errorf("failed to serve metrics: %w", err)
	case <-ctx.Done():
	}
	// ctx is already done: the grace period needs a context of its own.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		srv.Close() // stragglers past the grace period are cut off
		err = fmt.Errorf("failed to shut down the metrics server: %w", err)
	}
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, fmt.Errorf("failed to serve metrics: %w", serr))
	}
	return err
}

func probe(w http.ResponseWriter, check func() (bool, string)) {
	if ok, reason := check(); !ok {
		text(w, http.StatusServiceUnavailable, reason)
		return
	}
	text(w, http.StatusOK, "ok")
}

func text(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store") // a cached "ok" would hide a dead loop
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}
