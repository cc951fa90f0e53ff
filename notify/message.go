package notify

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Length caps on fields copied into a message. An alert is read on a phone: a runaway Reason (say, a whole
// error chain) must not turn it into a wall of text, and some services reject long messages outright.
const (
	maxNameLen   = 128
	maxReasonLen = 512
)

// message is one notification as it is queued: a one-line title and a short body of "field: value" lines.
type message struct {
	key   string // the incident key, for log lines about this message; names only, never a value
	title string
	body  string
}

// text is what is sent. The title is repeated as the first line because many services (a generic webhook
// without a template, the logger service) ignore the title parameter, and the first line is what a
// notification preview shows.
func (m message) text() string {
	if m.body == "" {
		return m.title
	}
	return m.title + "\n" + m.body
}

// alertMessage formats the alert for a newly raised (or changed) incident. It is a pure function of its
// arguments so that the exact wording is pinned down by table tests.
func alertMessage(inc Incident, host string) message {
	kind, subject, usedCommit := describe(inc)
	var title strings.Builder
	title.WriteString("[rekey] " + kind + ": " + subject)
	if s := clean(inc.State, maxNameLen); s != "" {
		title.WriteString(" is " + s)
	}
	if c := clean(inc.Commit, maxNameLen); c != "" && !usedCommit {
		title.WriteString(" (commit " + c + ")")
	}
	return message{
		key:   clean(inc.key(), maxNameLen),
		title: title.String(),
		body: fields(
			"reason", clean(inc.Reason, maxReasonLen),
			"secret", clean(inc.Secret, maxNameLen),
			"consumer", clean(inc.Consumer, maxNameLen),
			"state", clean(inc.State, maxNameLen),
			"commit", clean(inc.Commit, maxNameLen),
			"host", clean(host, maxNameLen),
			"since", timestamp(inc.Time),
			"key", clean(inc.key(), maxNameLen),
		),
	}
}

// resolvedMessage formats the recovery notice for inc, the incident as it was last raised, cleared at at.
func resolvedMessage(inc Incident, host string, at time.Time) message {
	kind, subject, _ := describe(inc)
	title := "[rekey] resolved: " + kind + ": " + subject
	state := clean(inc.State, maxNameLen)
	if state != "" {
		title += " is no longer " + state
	}
	was := "resolved"
	if state != "" {
		was = "resolved (was " + state + ")"
	}
	return message{
		key:   clean(inc.key(), maxNameLen),
		title: title,
		body: fields(
			"state", was,
			"secret", clean(inc.Secret, maxNameLen),
			"consumer", clean(inc.Consumer, maxNameLen),
			"commit", clean(inc.Commit, maxNameLen),
			"last reason", clean(inc.Reason, maxReasonLen),
			"host", clean(host, maxNameLen),
			"since", timestamp(inc.Time),
			"resolved", timestamp(at),
			"key", clean(inc.key(), maxNameLen),
		),
	}
}

// describe returns the kind word and the subject of the title. The subject names the secret and the
// consumer; an incident about neither (a refused commit) is named by its commit, and failing that by its
// key, so that every title says what it is about. usedCommit tells the caller not to repeat the commit.
func describe(inc Incident) (kind, subject string, usedCommit bool) {
	kind = clean(inc.Kind, maxNameLen)
	if kind == "" {
		kind = "incident"
	}
	var parts []string
	if s := clean(inc.Secret, maxNameLen); s != "" {
		parts = append(parts, "secret "+s)
	}
	if c := clean(inc.Consumer, maxNameLen); c != "" {
		parts = append(parts, "consumer "+c)
	}
	switch {
	case len(parts) > 0:
		return kind, strings.Join(parts, " "), false
	case clean(inc.Commit, maxNameLen) != "":
		return kind, "commit " + clean(inc.Commit, maxNameLen), true
	default:
		return kind, clean(inc.key(), maxNameLen), false
	}
}

// fields renders name/value pairs as "name: value" lines, skipping empty values.
func fields(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(kv[i] + ": " + kv[i+1])
	}
	return b.String()
}

func timestamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// clean makes s safe to put on one line of a message: control characters (newlines above all, which would
// let a field forge extra lines or a second title) become spaces, runs of spaces collapse, and the result is
// cut at limit bytes on a rune boundary, marked with "…".
func clean(s string, limit int) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
