package notify

import (
	"strings"
	"testing"
)

func TestNewRejectsInvalidURLs(t *testing.T) {
	const good = "generic://127.0.0.1:9/hook?disabletls=yes"
	tests := []struct {
		name   string
		urls   []string
		want   string
		secret string // must not appear in the error
	}{
		{"unknown service", []string{good, "foo://user:pw-Secret1@127.0.0.1/x"}, `alert URL #2: unsupported service "foo"`, "pw-Secret1"},
		{"plain https is no service", []string{"https://127.0.0.1/hooks/Tok3nPath"}, `alert URL #1: unsupported service "https"`, "Tok3nPath"},
		{"no scheme", []string{good, good, "Tok3nOnly"}, `alert URL #3: missing service scheme (e.g. "slack://")`, "Tok3nOnly"},
		{"unparseable", []string{"::Tok3n%zz"}, "alert URL #1: malformed URL", "Tok3n"},
		{"empty", []string{good, "  "}, "alert URL #2: empty", ""},
		{"bad option value", []string{"generic://127.0.0.1/Tok3nPath?disabletls=maybe"},
			"alert URL #1: invalid generic URL: setting config properties from service URL query: " +
				"accepted values are 1, true, yes or 0, false, no", "Tok3nPath"},
		// shoutrrr v0.13.2 panics on this one inside its router; New must turn it into an error.
		{"bad option in custom URL", []string{"generic+http://127.0.0.1/Tok3nPath?disabletls=maybe"},
			"alert URL #1: invalid generic URL: setting config properties from query: " +
				"accepted values are 1, true, yes or 0, false, no", "Tok3nPath"},
		{"custom URL for a service without them", []string{"slack+https://hooks.example/Tok3nPath"},
			`alert URL #1: invalid slack URL: the slack service takes no "slack+" URLs`, "Tok3nPath"},
		// The telegram service quotes its token in the error; the scrubber removes it, however short.
		{"service error quoting the token", []string{"telegram://t0k@telegram"},
			"alert URL #1: invalid telegram URL: invalid telegram token: [redacted]:", "t0k"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := New(tt.urls)
			if err == nil {
				_ = n.Close(t.Context())
				t.Fatal("New accepted invalid URLs")
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got %q\nwant %q", err, tt.want)
			}
			if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Errorf("error %q contains %q", err, tt.secret)
			}
		})
	}
}

func TestNewAcceptsValidURLs(t *testing.T) {
	n, err := New([]string{
		"generic://127.0.0.1:9/hook?disabletls=yes",
		"generic+http://127.0.0.1:9/hook",
		"GENERIC://127.0.0.1:9/hook", // schemes are case-insensitive
		"logger://",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestScrub(t *testing.T) {
	const raw = "generic://alice:pa55-w0rd@hooks.internal:8443/api/v1/Tok3n-ABCDEF?disabletls=yes&@Authorization=Bearer+hdr-S3cret"
	n, err := New([]string{raw}, WithRedactor(func(s string) string {
		return strings.ReplaceAll(s, "hunter2", "***")
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close(t.Context())
	tests := []struct{ in, want string }{
		{"plain error", "plain error"},
		{"Post \"http://alice@hooks.internal:8443/api/v1/Tok3n-ABCDEF\": EOF", "Post \"[redacted URL]\": EOF"},
		{"dial tcp hooks.internal:8443: connection refused", "dial tcp [redacted]: connection refused"},
		{"bad token Tok3n-ABCDEF", "bad token [redacted]"},
		{"header Bearer hdr-S3cret rejected", "header [redacted] rejected"},
		{"token hdr-S3cret rejected", "token [redacted] rejected"},
		{"auth pa55-w0rd for alice", "auth [redacted] for [redacted]"},
		{"unrelated https://api.telegram.org/bot123:XYZ/sendMessage failed", "unrelated [redacted URL] failed"},
		{"value hunter2 in an error", "value *** in an error"},
		{"yes means yes", "yes means yes"}, // short query values are not secret
	}
	for _, tt := range tests {
		if got := n.scrub(tt.in); got != tt.want {
			t.Errorf("scrub(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}
