// Package redact removes secret values from text, streams and errors before
// they reach logs or the terminal.
//
// Every byte of the input that belongs to an occurrence of any secret is
// covered; each maximal run of covered bytes becomes one Marker. Overlapping
// or adjacent occurrences therefore never leave part of a secret visible, and
// the output does not depend on how the input was split into writes.
//
// Every non-empty secret is redacted, however short: a short secret in the
// clear is still a leak, and configuration is the place to refuse short
// secrets. Empty secrets are ignored. Reports that hold no value by
// construction (init's, inventory, runbook) use ForReport, which leaves common
// words alone (CommonWord): a stack whose database password is "postgres"
// would otherwise lose the word from every path, image and service name there.
// Logs, errors and alerts redact every value.
package redact

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
)

// Marker replaces redacted text.
const Marker = "[redacted]"

// Redactor replaces secrets. A nil *Redactor, or one without secrets, leaves
// text unchanged. It is safe for concurrent use. Formatting a Redactor with
// fmt never prints its secrets.
type Redactor struct {
	secrets []string // non-empty, distinct, longest first
	maxLen  int
}

// New returns a Redactor for the given secrets; empty ones are ignored.
func New(secrets ...string) *Redactor {
	seen := map[string]bool{}
	r := &Redactor{}
	for _, s := range secrets {
		// A value in JSON output is escaped (`"`, `\`, `<`, `>`, `&`, control characters): hide that form too.
		for _, form := range []string{s, jsonEscaped(s)} {
			if form == "" || seen[form] {
				continue
			}
			seen[form] = true
			r.secrets = append(r.secrets, form)
			r.maxLen = max(r.maxLen, len(form))
		}
	}
	sort.SliceStable(r.secrets, func(i, j int) bool { return len(r.secrets[i]) > len(r.secrets[j]) })
	return r
}

// ForReport returns a copy of r that leaves common words (CommonWord) alone, for the output of a report
// that holds no value by construction, where the redactor is a second line of defence only.
func (r *Redactor) ForReport() *Redactor {
	if r == nil {
		return nil
	}
	out := &Redactor{}
	for _, form := range r.secrets {
		if !CommonWord(form) {
			out.secrets = append(out.secrets, form)
			out.maxLen = max(out.maxLen, len(form))
		}
	}
	return out
}

// commonWords are default passwords and the words of a stack that default ones are made of: service,
// image and database names, user names. Lower case; CommonWord compares without case.
var commonWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`admin administrator root user guest test demo example default password passwd
		pass secret changeme change-me letmein qwerty postgres postgresql mysql mariadb mongo mongodb redis valkey
		db database app web server api data backup nextcloud immich paperless gitea forgejo mastodon plausible umami
		authentik keycloak vaultwarden bitwarden seafile onlyoffice collabora wordpress ghost matrix synapse
		null none true false yes no`) {
		commonWords[w] = true
	}
}

// CommonWord reports a value that is a common word (see commonWords): not worth hiding, and hiding it would
// eat the same word wherever the output says it.
func CommonWord(s string) bool { return commonWords[strings.ToLower(s)] }

// String returns s with every run of bytes covered by an occurrence of a
// secret replaced by Marker.
func (r *Redactor) String(s string) string {
	if r == nil || len(r.secrets) == 0 {
		return s
	}
	covered := r.cover(s, 0)
	if covered == nil {
		return s
	}
	var b strings.Builder
	appendRedacted(&b, s, covered, false)
	return b.String()
}

// Error returns an error whose Error() is err.Error() redacted; it unwraps to
// err, so errors.Is and errors.As still work. It returns nil for nil.
func (r *Redactor) Error(err error) error {
	if err == nil {
		return nil
	}
	return &redactedError{err: err, r: r}
}

type redactedError struct {
	err error
	r   *Redactor
}

func (e *redactedError) Error() string { return e.r.String(e.err.Error()) }
func (e *redactedError) Unwrap() error { return e.err }

// Format prints the number of secrets, never the secrets.
func (r Redactor) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "redact.Redactor{%d secrets}", len(r.secrets))
}

// cover marks the bytes of s covered by an occurrence of a secret. The first
// forced bytes are covered whatever they hold. It returns nil if nothing is
// covered.
func (r *Redactor) cover(s string, forced int) []bool {
	var covered []bool
	mark := func(from, to int) {
		if covered == nil {
			covered = make([]bool, len(s))
		}
		for i := from; i < to; i++ {
			covered[i] = true
		}
	}
	if forced > 0 {
		mark(0, min(forced, len(s)))
	}
	for _, secret := range r.secrets {
		for i := 0; i+len(secret) <= len(s); {
			j := strings.Index(s[i:], secret)
			if j < 0 {
				break
			}
			mark(i+j, i+j+len(secret))
			i += j + 1 // occurrences may overlap
		}
	}
	return covered
}

// appendRedacted writes s with each run of covered bytes replaced by Marker;
// if inRun, a run at the start of s continues one already replaced. It
// returns whether s ends inside a run.
func appendRedacted(b *strings.Builder, s string, covered []bool, inRun bool) bool {
	for i := 0; i < len(s); i++ {
		if covered != nil && covered[i] {
			if !inRun {
				b.WriteString(Marker)
			}
			inRun = true
			continue
		}
		inRun = false
		b.WriteByte(s[i])
	}
	return inRun
}

// Writer returns a writer that redacts what is written to it before passing
// it to w. It holds back the last bytes written, which may begin a secret,
// until later writes show they do not (or Flush or Close is called), so a
// secret split across writes is still redacted; its output is exactly
// String of everything written. Call Close (or Flush) at the end.
func (r *Redactor) Writer(w io.Writer) *Writer {
	return &Writer{r: r, w: w}
}

// Writer is the io.Writer returned by Redactor.Writer.
type Writer struct {
	mu     sync.Mutex
	r      *Redactor
	w      io.Writer
	buf    []byte // written, not yet passed on
	forced int    // leading bytes of buf covered by an occurrence already seen
	inRun  bool   // the output so far ends with Marker
	err    error  // first error of w; sticky
}

// Write redacts p and passes on what can no longer be part of a secret.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	w.buf = append(w.buf, p...)
	if w.r == nil || len(w.r.secrets) == 0 {
		return len(p), w.emit(len(w.buf))
	}
	// An occurrence not yet complete starts within the last maxLen-1 bytes.
	return len(p), w.emit(len(w.buf) - (w.r.maxLen - 1))
}

// Flush passes on everything written so far, redacted. A secret split
// between writes before and after Flush is no longer recognised.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	return w.emit(len(w.buf))
}

// Close flushes; it does not close the underlying writer.
func (w *Writer) Close() error {
	return w.Flush()
}

// emit passes on the first n bytes of buf, redacted, and keeps the rest.
func (w *Writer) emit(n int) error {
	if n <= 0 {
		return nil
	}
	s := string(w.buf)
	var covered []bool
	if w.r != nil && len(w.r.secrets) > 0 {
		covered = w.r.cover(s, w.forced)
	}
	var b strings.Builder
	w.inRun = appendRedacted(&b, s[:n], covered, w.inRun)

	// Bytes kept back that an occurrence already seen covers stay covered,
	// even though the start of that occurrence is passed on now.
	w.forced = 0
	for i := n; i < len(s) && covered != nil && covered[i]; i++ {
		w.forced++
	}
	// forced only needs the run touching the cut; later covered bytes are
	// found again by cover since their occurrences lie entirely in the rest.
	w.buf = append(w.buf[:0], s[n:]...)

	if b.Len() == 0 {
		return nil
	}
	if _, err := io.WriteString(w.w, b.String()); err != nil {
		w.err = err
		return err
	}
	return nil
}

// jsonEscaped is s as it appears inside a JSON string written by encoding/json.
func jsonEscaped(s string) string {
	b, err := json.Marshal(s)
	if err != nil || len(b) < 2 {
		return s
	}
	return string(b[1 : len(b)-1])
}
