// Package webhook receives git push webhooks from GitHub, Gitea/Forgejo and GitLab, authenticates them and
// tells the caller which ref moved. It is the trigger of the long-running `rekey agent`: the agent's onPush
// only signals a channel, and the reconcile loop re-reads the repository itself. A webhook is a hint, never
// a source of truth, so nothing from the payload beyond the ref and the new head sha is used.
//
// Routing is by path suffix, so the handler can be mounted under any prefix:
//
//	…/hooks/github    X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>, X-GitHub-Event: push|ping
//	…/hooks/gitea     X-Gitea-Signature (or X-Forgejo-Signature): <hex HMAC-SHA256(secret, body)>,
//	…/hooks/forgejo   X-Gitea-Event (or X-Forgejo-Event): push
//	…/hooks/gitlab    X-Gitlab-Token: <secret>, X-Gitlab-Event: Push Hook (or Tag Push Hook)
//
// Every other path answers 404 and every method but POST answers 405.
//
// Authentication is computed over the exact raw body bytes and compared in constant time. Hex signatures
// are decoded before the comparison, so uppercase hex is accepted as well as the lowercase that GitHub,
// Gitea and Forgejo send: the case of a hex digit carries no information and rejecting it would buy no
// security. A signature that is not exactly 64 hex digits is rejected.
//
// Responses:
//
//	202  push accepted (onPush was called) or authenticated non-push event ignored
//	200  GitHub ping ("pong"), after the signature check
//	400  malformed JSON, missing ref, missing event header, unreadable body
//	401  missing or wrong signature/token
//	404  unknown path
//	405  method other than POST
//	413  body larger than the limit (WithMaxBody, default 1 MiB)
//	500  the handler was built with an empty secret: it refuses everything
//
// Logging: rejections are logged at warn level with the provider, the remote address (of the connection,
// never a forwarding header) and a fixed reason. Nothing else from the request is logged: not the payload,
// not the value of any header, never the secret. An accepted push is logged at info level with the ref and
// the new head sha, which are what the caller receives anyway.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strings"
)

// DefaultMaxBody is the default limit on the size of a request body.
const DefaultMaxBody int64 = 1 << 20

// Provider names reported in Push.Provider.
const (
	ProviderGitHub  = "github"
	ProviderGitea   = "gitea"
	ProviderForgejo = "forgejo"
	ProviderGitLab  = "gitlab"
)

// Push is an authenticated push event.
type Push struct {
	// Provider is "github", "gitea", "forgejo" or "gitlab" (from the path the hook was delivered to).
	Provider string
	// Ref is the full ref that moved, e.g. "refs/heads/main" or "refs/tags/v1".
	Ref string
	// Branch is Ref without "refs/heads/"; it is "" when Ref is not a branch (tags).
	Branch string
	// After is the new head commit sha, "" when the payload has none. A deleted branch has an all-zero
	// sha, as sent by the provider.
	After string
}

// Handler is an http.Handler for push webhooks. It is safe for concurrent use.
type Handler struct {
	secret  []byte
	onPush  func(Push)
	log     *slog.Logger
	maxBody int64
}

// Option configures a Handler.
type Option func(*Handler)

// WithLogger sets the logger; the default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(h *Handler) {
		if l != nil {
			h.log = l
		}
	}
}

// WithMaxBody sets the largest accepted request body in bytes; larger bodies are answered with 413. A value
// of zero or less keeps the default (DefaultMaxBody, 1 MiB).
func WithMaxBody(n int64) Option {
	return func(h *Handler) {
		if n > 0 {
			h.maxBody = n
		}
	}
}

// New returns a handler that authenticates hooks with secret (the HMAC key for GitHub and Gitea/Forgejo, the
// token for GitLab) and calls onPush for every authenticated push. An empty secret is a misconfiguration: the
// handler then refuses every request with 500.
//
// onPush is called synchronously, before the response is written, so it must be cheap and must not block:
// the agent's onPush only does a non-blocking send on a channel. A nil onPush is a no-op. The secret is
// copied.
func New(secret []byte, onPush func(Push), opts ...Option) *Handler {
	h := &Handler{
		secret:  bytes.Clone(secret),
		onPush:  onPush,
		log:     slog.Default(),
		maxBody: DefaultMaxBody,
	}
	for _, o := range opts {
		o(h)
	}
	if h.onPush == nil {
		h.onPush = func(Push) {}
	}
	return h
}

// provider describes how one forge signs and labels its hooks.
type provider struct {
	name string
	// authHeader checks the authentication header before the body is read; it returns the expected
	// MAC (nil for token providers, which are fully checked here) or a reason for a 401.
	authHeader func(h *Handler, r *http.Request) (mac []byte, reason string)
	// event returns the event header, "" when missing.
	event func(r *http.Request) string
	// push and ping are the event values that mean a push and a ping ("" for none).
	push []string
	ping string
}

var providers = []struct {
	suffix string
	p      *provider
}{
	{"/hooks/github", &provider{
		name:       ProviderGitHub,
		authHeader: githubSignature,
		event:      func(r *http.Request) string { return r.Header.Get("X-GitHub-Event") },
		push:       []string{"push"},
		ping:       "ping",
	}},
	{"/hooks/gitea", giteaProvider(ProviderGitea)},
	{"/hooks/forgejo", giteaProvider(ProviderForgejo)},
	{"/hooks/gitlab", &provider{
		name:       ProviderGitLab,
		authHeader: gitlabToken,
		event:      func(r *http.Request) string { return r.Header.Get("X-Gitlab-Event") },
		push:       []string{"Push Hook", "Tag Push Hook"},
	}},
}

func giteaProvider(name string) *provider {
	return &provider{
		name:       name,
		authHeader: giteaSignature,
		event: func(r *http.Request) string {
			return firstHeader(r, "X-Gitea-Event", "X-Forgejo-Event")
		},
		push: []string{"push"},
	}
}

func firstHeader(r *http.Request, names ...string) string {
	for _, n := range names {
		if v := r.Header.Get(n); v != "" {
			return v
		}
	}
	return ""
}

func githubSignature(_ *Handler, r *http.Request) ([]byte, string) {
	v := r.Header.Get("X-Hub-Signature-256")
	if v == "" {
		return nil, "missing X-Hub-Signature-256 header"
	}
	hexMAC, ok := strings.CutPrefix(v, "sha256=")
	if !ok {
		return nil, "X-Hub-Signature-256 lacks the sha256= prefix"
	}
	return decodeMAC(hexMAC, "X-Hub-Signature-256")
}

func giteaSignature(_ *Handler, r *http.Request) ([]byte, string) {
	v := firstHeader(r, "X-Gitea-Signature", "X-Forgejo-Signature")
	if v == "" {
		return nil, "missing X-Gitea-Signature/X-Forgejo-Signature header"
	}
	return decodeMAC(v, "signature header")
}

// decodeMAC decodes a hex HMAC-SHA256 (either case); the reason never contains the value.
func decodeMAC(s, header string) ([]byte, string) {
	if len(s) != 2*sha256.Size {
		return nil, header + " is not a 64-digit hex HMAC-SHA256"
	}
	mac, err := hex.DecodeString(s)
	if err != nil {
		return nil, header + " is not valid hex"
	}
	return mac, ""
}

func gitlabToken(h *Handler, r *http.Request) ([]byte, string) {
	v := r.Header.Get("X-Gitlab-Token")
	if v == "" {
		return nil, "missing X-Gitlab-Token header"
	}
	// Hash both sides so the comparison is constant time regardless of length.
	got := sha256.Sum256([]byte(v))
	want := sha256.Sum256(h.secret)
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return nil, "X-Gitlab-Token does not match the secret"
	}
	return nil, ""
}

// payload holds the only fields read from a push body. GitHub, Gitea/Forgejo and GitLab all send ref and
// after; GitLab also sends checkout_sha, used when after is absent.
type payload struct {
	Ref         string `json:"ref"`
	After       string `json:"after"`
	CheckoutSHA string `json:"checkout_sha"`
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := route(r)
	if p == nil {
		reply(w, http.StatusNotFound, "not found")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reply(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	log := h.log.With("provider", p.name, "remote", r.RemoteAddr)
	if len(h.secret) == 0 {
		log.Error("webhook refused: no webhook secret is configured")
		reply(w, http.StatusInternalServerError, "webhook secret not configured")
		return
	}
	body, rej := h.authenticate(p, w, r)
	if rej == nil {
		// Authenticated from here on.
		var push Push
		if push, rej = p.parsePush(r, body); rej == nil {
			log.Info("webhook push accepted", "ref", push.Ref, "after", push.After)
			h.onPush(push)
			reply(w, http.StatusAccepted, "accepted")
			return
		}
	}
	rej.log(log)
	reply(w, rej.status, rej.reply)
}

// route finds the provider whose path suffix the request's path ends with.
func route(r *http.Request) *provider {
	for _, c := range providers {
		if strings.HasSuffix(r.URL.Path, c.suffix) {
			return c.p
		}
	}
	return nil
}

// rejection is a request answered without a push: its status and reply, and what the log says (never a
// header value or a body byte).
type rejection struct {
	status int
	reply  string
	level  slog.Level
	msg    string
	attrs  []any
}

func rejected(status int, reply, reason string, attrs ...any) *rejection {
	return &rejection{status: status, reply: reply, level: slog.LevelWarn, msg: "webhook rejected",
		attrs: append([]any{"reason", reason}, attrs...)}
}

func (rj *rejection) log(l *slog.Logger) { l.Log(context.Background(), rj.level, rj.msg, rj.attrs...) }

// authenticate checks the request's credentials (before reading the body when they are missing), reads
// the body within the limit and checks its signature.
func (h *Handler) authenticate(p *provider, w http.ResponseWriter, r *http.Request) ([]byte, *rejection) {
	wantMAC, reason := p.authHeader(h, r)
	if reason != "" {
		return nil, rejected(http.StatusUnauthorized, "unauthorized", reason)
	}
	tooLarge := rejected(http.StatusRequestEntityTooLarge, "payload too large", "body too large", "limit", h.maxBody)
	if r.ContentLength > h.maxBody {
		return nil, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, tooLarge
		}
		return nil, rejected(http.StatusBadRequest, "bad request", "failed to read body")
	}
	if wantMAC != nil {
		m := hmac.New(sha256.New, h.secret)
		m.Write(body)
		if !hmac.Equal(m.Sum(nil), wantMAC) {
			return nil, rejected(http.StatusUnauthorized, "unauthorized", "signature does not match the body")
		}
	}
	return body, nil
}

// parsePush reads an authenticated request as a push event; pings and other events are answered without
// one.
func (p *provider) parsePush(r *http.Request, body []byte) (Push, *rejection) {
	event := p.event(r)
	switch {
	case event == "":
		return Push{}, rejected(http.StatusBadRequest, "missing event header", "missing event header")
	case p.ping != "" && event == p.ping:
		return Push{}, &rejection{status: http.StatusOK, reply: "pong", level: slog.LevelInfo, msg: "webhook ping"}
	case !slices.Contains(p.push, event):
		// The event name is a header value: not logged.
		return Push{}, &rejection{status: http.StatusAccepted, reply: "ignored", level: slog.LevelDebug, msg: "webhook ignored: not a push event"}
	}
	var pl payload
	if err := json.Unmarshal(body, &pl); err != nil {
		reason := "malformed JSON payload"
		if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/x-www-form-urlencoded" {
			reason = "form-encoded payload; set the webhook content type to application/json"
		}
		return Push{}, rejected(http.StatusBadRequest, "malformed JSON payload", reason)
	}
	if pl.Ref == "" {
		return Push{}, rejected(http.StatusBadRequest, "push payload has no ref", "push payload has no ref")
	}
	push := Push{Provider: p.name, Ref: pl.Ref, After: pl.After}
	if push.After == "" {
		push.After = pl.CheckoutSHA
	}
	if b, ok := strings.CutPrefix(pl.Ref, "refs/heads/"); ok {
		push.Branch = b
	}
	return push, nil
}

func reply(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	io.WriteString(w, msg+"\n")
}
