package statuspage

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Source gives the page its model. The agent implements it; Status is called once per request, so it should
// return a snapshot of what the agent already knows rather than scan anything. Neither the Model nor the
// error may hold a secret value: both are shown as they are.
type Source interface {
	Status(ctx context.Context) (Model, error)
}

// DefaultRefresh is how often the page reloads itself (a <meta http-equiv="refresh">, no script).
const DefaultRefresh = 30 * time.Second

// ContentSecurityPolicy is sent with every response: nothing may load but the page's own stylesheet, nothing
// may run, frame it, or be submitted from it.
const ContentSecurityPolicy = "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Option configures Handler.
type Option func(*config)

type config struct {
	refresh  time.Duration
	auth     bool
	noPass   bool // WithBasicAuth got an empty password: nobody gets in
	userHash [32]byte
	passHash [32]byte
	realm    string
}

// WithBasicAuth requires HTTP basic authentication with this user name and password on every path.
// Credentials are compared in constant time (as SHA-256 digests, so that their lengths do not show either);
// a request without them, or with wrong ones, gets 401 and a WWW-Authenticate challenge. An empty password
// locks everyone out rather than letting an empty one in (ReadBasicAuthFile refuses short passwords). Basic
// auth sends the password in clear on every request: over anything but loopback, put TLS in front.
func WithBasicAuth(user, password string) Option {
	return func(c *config) {
		c.auth, c.noPass = true, password == ""
		c.userHash = sha256.Sum256([]byte(user))
		c.passHash = sha256.Sum256([]byte(password))
	}
}

// WithRefresh sets how often the page reloads itself; 0 turns automatic reloads off. The default is
// DefaultRefresh. Durations are rounded down to whole seconds.
func WithRefresh(d time.Duration) Option {
	return func(c *config) { c.refresh = max(d, 0) }
}

// Handler serves the status page of src, for GET and HEAD only:
//
//	/             the HTML page
//	/style.css    its stylesheet
//	/status.json  the same Model as JSON
//
// Every other path answers 404 and every other method 405 (with Allow: GET, HEAD). With WithBasicAuth every
// request must authenticate first. Every response is marked no-store and carries ContentSecurityPolicy,
// X-Content-Type-Options: nosniff, X-Frame-Options: DENY and Referrer-Policy: no-referrer. When src fails,
// the page and the JSON answer 503 with its error.
//
// Paths match exactly, so the handler is meant to be mounted at the root of its own listener (or behind a
// proxy that strips a prefix: the page links its stylesheet and JSON relatively).
func Handler(src Source, opts ...Option) http.Handler {
	c := config{refresh: DefaultRefresh, realm: "rekey status"}
	for _, o := range opts {
		o(&c)
	}
	return &handler{src: src, c: c}
}

type handler struct {
	src Source
	c   config
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	if h.c.auth && !h.authorized(r) {
		hd.Set("WWW-Authenticate", `Basic realm="`+h.c.realm+`", charset="UTF-8"`)
		text(w, http.StatusUnauthorized, "unauthorized")
		return
	}
	var serve func(http.ResponseWriter, *http.Request)
	switch r.URL.Path {
	case "/":
		serve = h.servePage
	case "/style.css":
		serve = serveStyle
	case "/status.json":
		serve = h.serveJSON
	default:
		text(w, http.StatusNotFound, "not found")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		text(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	serve(w, r)
}

// authorized checks the basic auth credentials in constant time; both are always compared.
func (h *handler) authorized(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	u := sha256.Sum256([]byte(user))
	p := sha256.Sum256([]byte(pass))
	userOK := subtle.ConstantTimeCompare(u[:], h.c.userHash[:])
	passOK := subtle.ConstantTimeCompare(p[:], h.c.passHash[:])
	return ok && !h.c.noPass && userOK&passOK == 1
}

func (h *handler) status(r *http.Request) (Model, error) {
	m, err := h.src.Status(r.Context())
	if err != nil {
		return Model{}, err
	}
	return sanitize(m), nil
}

func (h *handler) servePage(w http.ResponseWriter, r *http.Request) {
	m, err := h.status(r)
	if err != nil {
		text(w, http.StatusServiceUnavailable, "the status is not available: "+err.Error())
		return
	}
	b, err := render(m, h.c.refresh)
	if err != nil {
		text(w, http.StatusInternalServerError, "failed to render the status page: "+err.Error())
		return
	}
	write(w, "text/html; charset=utf-8", b)
}

func (h *handler) serveJSON(w http.ResponseWriter, r *http.Request) {
	m, err := h.status(r)
	code := http.StatusOK
	var v any = m
	if err != nil {
		code, v = http.StatusServiceUnavailable, map[string]string{"error": err.Error()}
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		text(w, http.StatusInternalServerError, "failed to encode the status: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

func serveStyle(w http.ResponseWriter, _ *http.Request) {
	write(w, "text/css; charset=utf-8", styleCSS)
}

func write(w http.ResponseWriter, contentType string, b []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

func text(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}
