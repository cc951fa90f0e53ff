package statuspage

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/url"
	"strings"
	"time"

	"github.com/rekeyhq/rekey/reconcile"
)

//go:embed assets/page.html assets/style.css
var assets embed.FS

var (
	pageTmpl = template.Must(template.ParseFS(assets, "assets/page.html"))
	styleCSS = mustRead("assets/style.css")
)

func mustRead(name string) []byte {
	b, err := assets.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return b
}

// maxBannerLines caps the detail lines under the banner headline; the cards hold the rest.
const maxBannerLines = 8

// Badge classes. They are the only values the template puts in a class attribute.
const (
	clsOK    = "ok"
	clsInfo  = "info"
	clsWarn  = "warn"
	clsBad   = "bad"
	clsMuted = "muted"
)

var levelRank = map[string]int{clsMuted: 0, clsOK: 0, clsInfo: 1, clsWarn: 2, clsBad: 3}

// stateClass maps every state word the model carries (drift states, outcomes, reconcile results, phases)
// to a badge class. The badge always shows the word itself: color is never the only signal.
func stateClass(s string) string {
	switch s {
	case string(reconcile.DriftInSync), string(reconcile.OutcomeRotated), string(reconcile.OutcomeVerified),
		string(reconcile.OutcomeWaiting), string(reconcile.OutcomeFinalized), ResultOK:
		return clsOK
	case string(reconcile.DriftSourceEdited), string(reconcile.DriftStaleConsumer), string(reconcile.DriftServerMismatch),
		string(reconcile.OutcomeRolledBack), string(reconcile.OutcomeFailed), string(reconcile.OutcomeFinalizeFailed),
		string(reconcile.OutcomeRefused), ResultError:
		return clsBad
	case string(reconcile.DriftUnknown), string(reconcile.OutcomeHeld), string(reconcile.OutcomeRecovered),
		string(reconcile.OutcomeDrift):
		return clsWarn
	case string(reconcile.DriftPending), string(reconcile.OutcomeSuperseded):
		return clsInfo
	}
	return clsMuted
}

// stamp is a time as the page shows it: UTC RFC 3339 and the age relative to the model's Generated time.
type stamp struct {
	Zero bool
	UTC  string
	Rel  string
}

func makeStamp(t, now time.Time) stamp {
	if t.IsZero() {
		return stamp{Zero: true}
	}
	return stamp{UTC: t.UTC().Format(time.RFC3339), Rel: relative(t, now)}
}

// relative says how long before or after now t is, coarsely: "just now", "45s ago", "3m ago", "2h3m ago",
// "3d4h ago", "in 23h".
func relative(t, now time.Time) string {
	d := now.Sub(t)
	if d < 0 {
		return "in " + coarse(-d)
	}
	if d < time.Second {
		return "just now"
	}
	return coarse(d) + " ago"
}

func coarse(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh%dm", h, m)
	default:
		days, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
		if h == 0 || days >= 7 {
			return fmt.Sprintf("%dd", days)
		}
		return fmt.Sprintf("%dd%dh", days, h)
	}
}

// badge is a state word and its class.
type badge struct {
	Text  string
	Class string
}

// driftView is one place's drift state as the page shows it.
type driftView struct {
	badge
	Since  stamp
	Reason string
}

// summary is the banner at the top of the page.
type summary struct {
	Level    string   // clsOK, clsInfo, clsWarn or clsBad
	Label    string   // the level in words
	Headline string   // what is wrong, worst first; "All in sync" when nothing is
	Also     string   // what else is going on, less severe than the headline
	Lines    []string // one line per problem, naming the secret and the place
}

var levelLabels = map[string]string{clsOK: "OK", clsInfo: "BUSY", clsWarn: "WARNING", clsBad: "PROBLEM"}

// view is what the template renders: the model plus what is computed from it.
type view struct {
	Model   Model
	Refresh int // seconds; 0 for no automatic refresh
	Summary summary
	Title   string
}

func newView(m Model, refresh time.Duration) *view {
	v := &view{Model: m, Refresh: int(refresh / time.Second)}
	v.Summary = v.summarize()
	v.Title = "rekey"
	if m.Project != "" {
		v.Title += " · " + m.Project
	}
	v.Title += " · " + v.Summary.Headline
	return v
}

// At is a time of the model as the page shows it.
func (v *view) At(t time.Time) stamp { return makeStamp(t, v.Model.Generated) }

// Class is the badge class of a state word.
func (v *view) Class(s any) string { return stateClass(fmt.Sprint(s)) }

// AlertClass is the badge class of an alert's state: an open alert is a problem unless its state says
// otherwise.
func (v *view) AlertClass(state string) string {
	if c := stateClass(state); c != clsMuted {
		return c
	}
	return clsBad
}

// ShortFP is the first 12 hex digits of a fingerprint.
func (v *view) ShortFP(fp string) string {
	if fp == "" {
		return ""
	}
	hex := strings.TrimPrefix(fp, fingerprintPrefix)
	if len(hex) > 12 {
		hex = hex[:12]
	}
	return hex
}

// ShortHash is the first 12 characters of a commit hash.
func (v *view) ShortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// DriftOf is one place's state for the page.
func (v *view) DriftOf(d Drift) driftView {
	dv := driftView{Reason: d.Reason}
	if d.State == "" {
		dv.badge = badge{Text: "not scanned", Class: clsMuted}
	} else {
		dv.badge = badge{Text: string(d.State), Class: stateClass(string(d.State))}
	}
	dv.Since = v.At(d.Since)
	return dv
}

// ResultOf is the last reconcile's result for the page.
func (v *view) ResultOf(r Reconcile) badge {
	switch {
	case reconcileFailed(r) && (r.Result == "" || r.Result == ResultOK):
		return badge{Text: ResultError, Class: clsBad}
	case reconcileFailed(r):
		return badge{Text: r.Result, Class: clsBad}
	case r.Time.IsZero():
		return badge{Text: "not run yet", Class: clsWarn}
	}
	return badge{Text: ResultOK, Class: clsOK}
}

func reconcileFailed(r Reconcile) bool {
	return (r.Result != "" && r.Result != ResultOK) || r.Error != ""
}

// SecretBadge is the one-word state of a whole secret, the worst of its places and its last rotation.
func (v *view) SecretBadge(s Secret) badge {
	var drifted, unknown, pending, synced, places int
	each(s, func(place string, d Drift) {
		places++
		switch {
		case d.State.Drifted():
			drifted++
		case d.State == reconcile.DriftUnknown:
			unknown++
		case d.State == reconcile.DriftPending:
			pending++
		case d.State == reconcile.DriftInSync:
			synced++
		}
	})
	out := string(s.LastRotation.Outcome)
	switch {
	case drifted > 0:
		return badge{"drifted", clsBad}
	case stateClass(out) == clsBad:
		return badge{out, clsBad}
	case s.OpenTxn != nil:
		return badge{"rotating", clsInfo}
	case unknown > 0:
		return badge{"unchecked", clsWarn}
	case pending > 0:
		return badge{"pending", clsInfo}
	case places > 0 && synced == places:
		return badge{string(reconcile.DriftInSync), clsOK}
	}
	return badge{"not scanned", clsMuted}
}

// each calls f with every place of a secret: its sources, then every container of every consumer, with a
// human name for the place.
func each(s Secret, f func(place string, d Drift)) {
	for _, src := range s.Sources {
		f("source "+src.Location, src.Drift)
	}
	for _, c := range s.Consumers {
		for _, ct := range c.Containers {
			name := "consumer " + c.Name
			if ct.ID != "" {
				name += " (" + ct.ID + ")"
			}
			f(name, ct.Drift)
		}
	}
}

func (v *view) summarize() summary {
	m := v.Model
	type part struct{ level, text string }
	var parts []part
	var lines []string
	r := m.LastReconcile
	switch {
	case reconcileFailed(r):
		parts = append(parts, part{clsBad, "Last reconcile failed"})
		line := "Last reconcile"
		if r.Result != "" && r.Result != ResultError {
			line += " (" + r.Result + ")"
		}
		if !r.Time.IsZero() {
			line += " at " + r.Time.UTC().Format(time.RFC3339) + " (" + relative(r.Time, m.Generated) + ")"
		}
		if r.Error != "" {
			line += ": " + oneLine(r.Error)
		}
		lines = append(lines, line)
	case r.Time.IsZero():
		parts = append(parts, part{clsWarn, "No reconcile yet"})
	}
	var drifted, unknown, pending int
	var failed, rotating []string
	for _, s := range m.Secrets {
		each(s, func(place string, d Drift) {
			switch {
			case d.State.Drifted():
				drifted++
				lines = append(lines, s.Name+": "+place+" is "+string(d.State))
			case d.State == reconcile.DriftUnknown:
				unknown++
			case d.State == reconcile.DriftPending:
				pending++
			}
		})
		if out := string(s.LastRotation.Outcome); stateClass(out) == clsBad {
			failed = append(failed, s.Name)
			line := s.Name + ": last rotation " + out
			if s.LastRotation.Reason != "" {
				line += ": " + oneLine(s.LastRotation.Reason)
			}
			lines = append(lines, line)
		}
		if s.OpenTxn != nil {
			rotating = append(rotating, s.Name)
		}
	}
	if drifted > 0 {
		parts = append(parts, part{clsBad, plural(drifted, "place", "places") + " drifted"})
	}
	if len(failed) > 0 {
		parts = append(parts, part{clsBad, plural(len(failed), "rotation", "rotations") + " failed"})
	}
	if unknown > 0 {
		parts = append(parts, part{clsWarn, plural(unknown, "place", "places") + " not checked"})
	}
	if n := len(m.Alerts); n > 0 {
		parts = append(parts, part{clsWarn, plural(n, "open alert", "open alerts")})
	}
	if len(rotating) > 0 {
		parts = append(parts, part{clsInfo, "rotating " + strings.Join(rotating, ", ")})
	}
	if pending > 0 {
		parts = append(parts, part{clsInfo, plural(pending, "place", "places") + " pending"})
	}
	if len(parts) == 0 {
		return summary{Level: clsOK, Label: levelLabels[clsOK], Headline: "All in sync",
			Lines: []string{plural(len(m.Secrets), "secret", "secrets") + ": every source and running consumer holds the value in Git."}}
	}
	level := clsOK
	for _, p := range parts {
		if levelRank[p.level] > levelRank[level] {
			level = p.level
		}
	}
	// The headline says only the worst; the rest follows in smaller print.
	var head, also []string
	for _, p := range parts {
		if p.level == level {
			head = append(head, p.text)
		} else {
			also = append(also, p.text)
		}
	}
	if len(lines) > maxBannerLines {
		more := len(lines) - (maxBannerLines - 1)
		lines = append(lines[:maxBannerLines-1], fmt.Sprintf("… and %d more below", more))
	}
	s := summary{Level: level, Label: levelLabels[level], Headline: capitalize(strings.Join(head, " · ")), Lines: lines}
	if len(also) > 0 {
		s.Also = "Also: " + strings.Join(also, " · ")
	}
	return s
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// render writes the page for a sanitized model.
func render(m Model, refresh time.Duration) ([]byte, error) {
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, newView(m, refresh)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

const fingerprintPrefix = "hmac:"

// validFingerprint reports whether fp looks like a fingerprint rekey prints: "hmac:" and hex digits.
func validFingerprint(fp string) bool {
	hex, ok := strings.CutPrefix(fp, fingerprintPrefix)
	if !ok || hex == "" {
		return false
	}
	for _, c := range hex {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// sanitize returns a copy of m that is safe to show even if the Source got something wrong: a fingerprint
// that is not one is blanked (it could be a value put in the wrong field), a repository URL loses its
// credentials and query (a token in the --repo URL), and nil lists become empty ones so that the JSON shape
// does not depend on them.
func sanitize(m Model) Model {
	m.Repo = cleanRepo(m.Repo)
	m.Secrets = append([]Secret{}, m.Secrets...)
	for i := range m.Secrets {
		s := &m.Secrets[i]
		if s.Fingerprint != "" && !validFingerprint(s.Fingerprint) {
			s.Fingerprint = invalidFingerprint
		}
		s.Sources = append([]SourceState{}, s.Sources...)
		s.Consumers = append([]Consumer{}, s.Consumers...)
		for j := range s.Consumers {
			s.Consumers[j].Containers = append([]Container{}, s.Consumers[j].Containers...)
		}
	}
	m.Alerts = append([]Alert{}, m.Alerts...)
	return m
}

// invalidFingerprint replaces a Fingerprint that is not one.
const invalidFingerprint = "invalid"

func cleanRepo(repo string) string {
	u, err := url.Parse(repo)
	if err != nil && strings.Contains(repo, "://") {
		return "(a URL that does not parse; not shown: it may hold credentials)"
	}
	if err != nil || u.Scheme == "" || u.Host == "" {
		return repo // a local path, or scp-like git@host:path (no password there)
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	return u.String()
}
