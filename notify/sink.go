package notify

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/nicholas-fedor/shoutrrr/pkg/router"
	"github.com/nicholas-fedor/shoutrrr/pkg/types"
)

// sink is one configured alert destination. It never keeps the URL as text: once the service is built, only
// its position and scheme are needed, and those are all that logs and errors may show.
type sink struct {
	pos    int    // 1-based position in the list given to New
	scheme string // the service name, e.g. "generic" or "slack"
	svc    types.Service
	// slot holds one token while a send to this service runs. shoutrrr's Send takes no context, so a send
	// that outlives its timeout cannot be cancelled; its goroutine keeps the slot until it returns, and the
	// next attempt waits for the slot within its own timeout. At most one abandoned send per service ever
	// exists, however long the receiver hangs.
	slot chan struct{}
}

var errTimeout = errors.New("timed out")

// newSink validates rawURL and builds its service. Errors name the URL by position and never contain it:
// shoutrrr URLs carry tokens and passwords. For the same reason errors from url.Parse and shoutrrr (which
// quote the URL) are not wrapped: their text goes only through scrub, and callers have no use for them.
func newSink(pos int, rawURL string, scrub func(string) string) (*sink, error) {
	if strings.TrimSpace(rawURL) == "" {
		return nil, fmt.Errorf("alert URL #%d: empty", pos)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("alert URL #%d: malformed URL", pos)
	}
	if u.Scheme == "" {
		return nil, fmt.Errorf("alert URL #%d: missing service scheme (e.g. \"slack://\")", pos)
	}
	// "generic+https" is the generic service with a custom webhook URL; the service is the part before "+".
	scheme, _, _ := strings.Cut(strings.ToLower(u.Scheme), "+")
	var r router.ServiceRouter // no logger: shoutrrr would log the URL it converts
	if _, err := r.NewService(scheme); err != nil {
		return nil, fmt.Errorf("alert URL #%d: unsupported service %q", pos, scheme)
	}
	svc, err := initService(&r, scheme, u)
	if err != nil {
		return nil, fmt.Errorf("alert URL #%d: invalid %s URL: %s", pos, scheme, scrub(err.Error()))
	}
	return &sink{pos: pos, scheme: scheme, svc: svc, slot: make(chan struct{}, 1)}, nil
}

// initService builds and initialises the service the way shoutrrr's router does, with public API only.
// The router's own Locate is not used because it replaces the service's error with "failed to initialize
// service", which leaves a user with a typo nothing to go on, and because in v0.13.2 it dereferences a nil
// URL when a custom URL ("generic+https://…") fails to convert. Panics become errors for the same reason: a
// typo in a config file must not crash the agent.
func initService(r *router.ServiceRouter, scheme string, u *url.URL) (svc types.Service, err error) {
	defer func() {
		if p := recover(); p != nil {
			svc, err = nil, errors.New("the service rejected the URL")
		}
	}()
	svc, err = r.NewService(scheme)
	if err != nil {
		return nil, err
	}
	configURL := u
	if !strings.EqualFold(u.Scheme, scheme) {
		custom, ok := svc.(types.CustomURLService)
		if !ok {
			return nil, fmt.Errorf("the %s service takes no \"%s+\" URLs", scheme, scheme)
		}
		if configURL, err = custom.GetConfigURLFromCustom(u); err != nil {
			return nil, err
		}
	}
	if err := svc.Initialize(configURL, nil); err != nil { // nil logger: services log URLs and responses
		return nil, err
	}
	return svc, nil
}

// deliver sends text to the sink, retrying with doubling backoff, and returns the last error once every
// attempt has failed. Stop aborts waiting (for a slot, a reply or a backoff), not a send already running.
func (s *sink) deliver(stop context.Context, text, title string, timeout time.Duration, retries int,
	backoff time.Duration, onRetry func(attempt int, err error)) error {
	var err error
	for attempt := 1; ; attempt++ {
		if err = s.attempt(stop, text, title, timeout); err == nil {
			return nil
		}
		if attempt > retries || stop.Err() != nil {
			return err
		}
		onRetry(attempt, err)
		t := time.NewTimer(backoff << (attempt - 1))
		select {
		case <-t.C:
		case <-stop.Done():
			t.Stop()
			return err
		}
	}
}

// attempt makes one send bounded by timeout, which covers waiting for a previous, abandoned send too.
func (s *sink) attempt(stop context.Context, text, title string, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case s.slot <- struct{}{}:
	case <-t.C:
		return fmt.Errorf("%w after %v: an earlier send is still running", errTimeout, timeout)
	case <-stop.Done():
		return fmt.Errorf("failed to send: %w", stop.Err())
	}
	done := make(chan error, 1)
	go func() {
		defer func() { <-s.slot }()
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("%s service panicked", s.scheme)
			}
		}()
		// A fresh map per attempt: services may add keys to the params they are given.
		done <- s.svc.Send(text, &types.Params{types.TitleKey: title})
	}()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return fmt.Errorf("%w after %v", errTimeout, timeout)
	case <-stop.Done():
		return fmt.Errorf("failed to send: %w", stop.Err())
	}
}

// urlPattern matches anything URL-shaped in error text. Services build request URLs from their tokens
// (Telegram puts the bot token in the path, Slack in the webhook path), so every URL in an error is treated
// as secret, not only the configured one.
var urlPattern = regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.\-]*://[^\s"'<>]+`)

// minPartLen is the shortest URL part (other than user and password) treated as secret. Shorter parts,
// like "yes" in disabletls=yes, would blank out ordinary words of every error.
const minPartLen = 4

// urlSecrets returns the parts of rawURL that may be credentials, in every spelling an error message might
// use: the whole URL, user and password, host (some services put their token there, e.g. ifttt://KEY),
// path and its segments, query and fragment values, both escaped and unescaped.
func urlSecrets(rawURL string) []string {
	out := []string{rawURL}
	u, err := url.Parse(rawURL)
	var scheme string
	if err == nil {
		scheme, _, _ = strings.Cut(u.Scheme, "+")
	}
	add := func(s string) {
		// A part equal to the service name (telegram://TOKEN@telegram) is no secret: logs name the service
		// anyway, and redacting it would blank the word out of every error about that service.
		if len(s) >= minPartLen && !strings.EqualFold(s, scheme) {
			out = append(out, s)
			if esc := url.QueryEscape(s); esc != s {
				out = append(out, esc)
			}
		}
	}
	if err != nil {
		// Unparseable: fall back on the pieces between separators.
		for _, f := range strings.FieldsFunc(rawURL, func(r rune) bool { return strings.ContainsRune(":/@?&=#", r) }) {
			add(f)
		}
		return out
	}
	if u.User != nil {
		// Userinfo is where most services take their token (telegram://TOKEN@telegram), so it is secret
		// however short.
		password, _ := u.User.Password()
		for _, p := range []string{u.User.Username(), password} {
			if p != "" {
				out = append(out, p, url.QueryEscape(p))
			}
		}
	}
	add(u.Host)
	add(u.Hostname())
	add(u.Opaque)
	add(u.Path)
	add(u.EscapedPath())
	for _, seg := range strings.Split(u.Path, "/") {
		add(seg)
	}
	add(u.RawQuery)
	for _, vs := range u.Query() {
		for _, v := range vs {
			add(v)
			// Header values such as "@Authorization=Bearer TOKEN" carry the token after the scheme word,
			// and an error may quote the token alone.
			if f := strings.Fields(v); len(f) > 1 {
				for _, part := range f[1:] {
					add(part)
				}
			}
		}
	}
	add(u.Fragment)
	return out
}
