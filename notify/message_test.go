package notify

import (
	"strings"
	"testing"
	"time"
)

var (
	t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	t1 = time.Date(2026, 3, 1, 12, 5, 0, 0, time.FixedZone("CET", 3600))
)

func TestAlertMessage(t *testing.T) {
	tests := []struct {
		name       string
		inc        Incident
		host       string
		wantTitle  string
		wantBody   string
		wantKey    string
		wantAbsent []string
	}{
		{
			name: "drift with secret, consumer and commit",
			inc: Incident{Kind: KindDrift, Secret: "db_password", Consumer: "worker", State: "stale-consumer",
				Commit: "abc1234", Reason: "consumer runs generation 3, desired is 4", Time: t0},
			wantTitle: "[rekey] drift: secret db_password consumer worker is stale-consumer (commit abc1234)",
			wantBody: "reason: consumer runs generation 3, desired is 4\nsecret: db_password\nconsumer: worker\n" +
				"state: stale-consumer\ncommit: abc1234\nsince: 2026-03-01T12:00:00Z\nkey: drift/db_password/worker",
			wantKey: "drift/db_password/worker",
		},
		{
			name: "explicit key wins over the derived one; host named in the body",
			inc: Incident{Key: "drift/db/w", Kind: KindDrift, Secret: "db", Consumer: "w", State: "source-edited",
				Time: t1},
			host:      "box-1",
			wantTitle: "[rekey] drift: secret db consumer w is source-edited",
			wantBody:  "secret: db\nconsumer: w\nstate: source-edited\nhost: box-1\nsince: 2026-03-01T11:05:00Z\nkey: drift/db/w",
			wantKey:   "drift/db/w",
		},
		{
			name: "rotation rolled back, no consumer",
			inc: Incident{Kind: KindRotation, Secret: "api_key", State: "rolled-back", Commit: "abc1234",
				Reason: "health check failed on api"},
			wantTitle: "[rekey] rotation: secret api_key is rolled-back (commit abc1234)",
			wantBody:  "reason: health check failed on api\nsecret: api_key\nstate: rolled-back\ncommit: abc1234\nkey: rotation/api_key",
			wantKey:   "rotation/api_key",
		},
		{
			name: "refused commit is named by its commit, which is not repeated",
			inc: Incident{Key: "refused/refs/heads/main", Kind: KindRefused, State: "refused", Commit: "def5678",
				Reason: "signature by an untrusted key"},
			wantTitle: "[rekey] refused: commit def5678 is refused",
			wantBody:  "reason: signature by an untrusted key\nstate: refused\ncommit: def5678\nkey: refused/refs/heads/main",
			wantKey:   "refused/refs/heads/main",
		},
		{
			name:      "overdue revocation",
			inc:       Incident{Kind: KindRevocation, Secret: "stripe_key", State: "overdue", Reason: "old key still valid 48h after rotation"},
			wantTitle: "[rekey] revocation: secret stripe_key is overdue",
			wantBody:  "reason: old key still valid 48h after rotation\nsecret: stripe_key\nstate: overdue\nkey: revocation/stripe_key",
			wantKey:   "revocation/stripe_key",
		},
		{
			name:      "incident about nothing named is named by its key",
			inc:       Incident{Key: "transient/reconcile", Kind: KindTransient, State: "repeated", Reason: "5 failures in a row"},
			wantTitle: "[rekey] transient: transient/reconcile is repeated",
			wantBody:  "reason: 5 failures in a row\nstate: repeated\nkey: transient/reconcile",
			wantKey:   "transient/reconcile",
		},
		{
			name:      "empty incident still gives a readable title",
			inc:       Incident{},
			wantTitle: "[rekey] incident: incident",
			wantBody:  "key: incident",
			wantKey:   "incident",
		},
		{
			name: "newlines and control characters cannot forge lines",
			inc: Incident{Kind: KindDrift, Secret: "a\nb", Consumer: "c\td", State: "x\r\n[rekey] resolved: y",
				Reason: "one\n\ntwo\x00three  four"},
			wantTitle:  "[rekey] drift: secret a b consumer c d is x [rekey] resolved: y",
			wantBody:   "reason: one two three four\nsecret: a b\nconsumer: c d\nstate: x [rekey] resolved: y\nkey: drift/a b/c d",
			wantKey:    "drift/a b/c d",
			wantAbsent: []string{"\r", "\t", "\x00"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := alertMessage(tt.inc, tt.host)
			if m.title != tt.wantTitle {
				t.Errorf("title\n got %q\nwant %q", m.title, tt.wantTitle)
			}
			if m.body != tt.wantBody {
				t.Errorf("body\n got %q\nwant %q", m.body, tt.wantBody)
			}
			if m.key != tt.wantKey {
				t.Errorf("key = %q, want %q", m.key, tt.wantKey)
			}
			if strings.Contains(m.title, "\n") {
				t.Errorf("title spans lines: %q", m.title)
			}
			for _, s := range tt.wantAbsent {
				if strings.Contains(m.text(), s) {
					t.Errorf("text contains %q: %q", s, m.text())
				}
			}
		})
	}
}

func TestResolvedMessage(t *testing.T) {
	tests := []struct {
		name      string
		inc       Incident
		host      string
		wantTitle string
		wantBody  string
	}{
		{
			name: "drift",
			inc: Incident{Key: "drift/db_password/worker", Kind: KindDrift, Secret: "db_password", Consumer: "worker",
				State: "stale-consumer", Commit: "abc1234", Reason: "consumer runs generation 3", Time: t0},
			host:      "box-1",
			wantTitle: "[rekey] resolved: drift: secret db_password consumer worker is no longer stale-consumer",
			wantBody: "state: resolved (was stale-consumer)\nsecret: db_password\nconsumer: worker\ncommit: abc1234\n" +
				"last reason: consumer runs generation 3\nhost: box-1\nsince: 2026-03-01T12:00:00Z\n" +
				"resolved: 2026-03-01T11:05:00Z\nkey: drift/db_password/worker",
		},
		{
			name:      "refused commit",
			inc:       Incident{Key: "refused/main", Kind: KindRefused, State: "refused", Commit: "def5678"},
			wantTitle: "[rekey] resolved: refused: commit def5678 is no longer refused",
			wantBody:  "state: resolved (was refused)\ncommit: def5678\nresolved: 2026-03-01T11:05:00Z\nkey: refused/main",
		},
		{
			name:      "no state",
			inc:       Incident{Key: "k", Kind: "custom"},
			wantTitle: "[rekey] resolved: custom: k",
			wantBody:  "state: resolved\nresolved: 2026-03-01T11:05:00Z\nkey: k",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := resolvedMessage(tt.inc, tt.host, t1)
			if m.title != tt.wantTitle {
				t.Errorf("title\n got %q\nwant %q", m.title, tt.wantTitle)
			}
			if m.body != tt.wantBody {
				t.Errorf("body\n got %q\nwant %q", m.body, tt.wantBody)
			}
		})
	}
}

func TestMessageText(t *testing.T) {
	if got := (message{title: "T", body: "a: b"}).text(); got != "T\na: b" {
		t.Errorf("text = %q", got)
	}
	if got := (message{title: "T"}).text(); got != "T" {
		t.Errorf("text without body = %q", got)
	}
}

func TestClean(t *testing.T) {
	tests := []struct {
		in    string
		limit int
		want  string
	}{
		{"", 10, ""},
		{"  plain  ", 10, "plain"},
		{"a\nb\r\nc\td", 20, "a b c d"},
		{"0123456789abc", 10, "0123456789…"},
		{"ééééé", 5, "éé…"},            // cut on a rune boundary: 'é' is two bytes
		{"aaaé", 4, "aaa…"},            // would split 'é'
		{"\x1b[31mred", 20, "[31mred"}, // terminal escapes lose their ESC
	}
	for _, tt := range tests {
		if got := clean(tt.in, tt.limit); got != tt.want {
			t.Errorf("clean(%q, %d) = %q, want %q", tt.in, tt.limit, got, tt.want)
		}
	}
}

func TestReasonIsCapped(t *testing.T) {
	m := alertMessage(Incident{Kind: KindDrift, Secret: "s", Reason: strings.Repeat("x", 5000)}, "")
	if len(m.body) > maxReasonLen+200 {
		t.Errorf("body is %d bytes", len(m.body))
	}
}
