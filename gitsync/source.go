package gitsync

import (
	"net/url"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/http"
)

// IsRemote reports whether source is a URL to clone and fetch rather than a local path, which is read in
// place (and can be watched for changes).
func IsRemote(source string) bool { return isURL(source) }

// isURL reports whether source names a remote (to be cloned) rather than a
// local path. It follows git's rule: anything with "scheme://" is a URL, and
// so is the scp-like [user@]host:path form when no slash comes before the
// first colon (which keeps ./a:b and /x/a:b local paths). A single letter
// before the colon is taken as a Windows drive, i.e. a path.
func isURL(source string) bool {
	if i := strings.Index(source, "://"); i > 0 && !strings.ContainsAny(source[:i], "/\\") {
		return true
	}
	colon := strings.IndexByte(source, ':')
	if colon <= 0 {
		return false
	}
	if strings.ContainsAny(source[:colon], "/\\") {
		return false
	}
	if colon == 1 { // C:\repo or C:/repo
		return false
	}
	return true
}

// redactURL returns source without its userinfo (user name and password).
func redactURL(source string) string {
	if i := strings.Index(source, "://"); i > 0 {
		if u, err := url.Parse(source); err == nil {
			u.User = nil
			return u.String()
		}
		// Unparsable: cut the userinfo by hand.
		rest := source[i+3:]
		end := strings.IndexByte(rest, '/')
		if end < 0 {
			end = len(rest)
		}
		if at := strings.LastIndexByte(rest[:end], '@'); at >= 0 {
			return source[:i+3] + rest[at+1:]
		}
		return source
	}
	if isURL(source) { // scp-like user@host:path
		colon := strings.IndexByte(source, ':')
		if at := strings.LastIndexByte(source[:colon], '@'); at >= 0 {
			return source[at+1:]
		}
	}
	return source
}

// replacement is one substitution applied to error messages.
type replacement struct{ old, new string }

// secretsOf lists what must never appear in an error message: the source as
// given (replaced by its redacted form), its userinfo in the forms URLs are
// printed in (removed), its password or token (masked), and the password or
// token of auth (masked).
func secretsOf(source string, auth transport.AuthMethod) []replacement {
	var s []replacement
	add := func(old, new string) {
		if old == "" {
			return
		}
		for _, v := range []string{old, url.QueryEscape(old), url.PathEscape(old)} {
			s = append(s, replacement{v, new})
		}
	}
	if display := redactURL(source); display != source {
		add(source, display)
	}
	if i := strings.Index(source, "://"); i > 0 {
		rest := source[i+3:]
		if end := strings.IndexByte(rest, '/'); end >= 0 {
			rest = rest[:end]
		}
		if at := strings.LastIndexByte(rest, '@'); at >= 0 {
			userinfo := rest[:at]
			user, pass, hasPass := strings.Cut(userinfo, ":")
			add(userinfo+"@", "")
			add(user+":***@", "") // how net/url prints it (URL.Redacted)
			add(user+"@", "")
			if p, err := url.PathUnescape(pass); err == nil && p != pass {
				add(p, "***")
			}
			add(pass, "***")
			if scheme := strings.ToLower(source[:i]); !hasPass && (scheme == "http" || scheme == "https") {
				add(user, "***") // a lone user name over HTTP is usually a token
			}
		}
	}
	switch a := auth.(type) {
	case *http.BasicAuth:
		add(a.Password, "***")
	case *http.TokenAuth:
		add(a.Token, "***")
	}
	// Longest first, so a secret containing another is replaced whole.
	sort.SliceStable(s, func(i, j int) bool { return len(s[i].old) > len(s[j].old) })
	return s
}

// scrub returns err with every secret of r replaced in its message; the
// wrapped chain stays available to errors.Is and errors.As.
func (r *Repo) scrub(err error) error {
	if err == nil || len(r.secrets) == 0 {
		return err
	}
	msg := err.Error()
	clean := msg
	for _, s := range r.secrets {
		clean = strings.ReplaceAll(clean, s.old, s.new)
	}
	if clean == msg {
		return err
	}
	return &scrubbedError{msg: clean, err: err}
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }
