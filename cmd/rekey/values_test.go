package main

import (
	"errors"
	"strings"
	"testing"
)

// TestNewValueKeepNewline: stdin loses one trailing newline by default (echo works) and is kept byte for
// byte with --keep-newline (a PEM key ends in one); --keep-newline with --generate is a usage error.
func TestNewValueKeepNewline(t *testing.T) {
	pem := "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
	for _, tc := range []struct {
		in    string
		exact bool
		want  string
	}{
		{pem, false, strings.TrimSuffix(pem, "\n")},
		{pem, true, pem},
		{"v\r\n", false, "v"},
		{"v\r\n", true, "v\r\n"},
		{"v\n\n", false, "v\n"},
	} {
		got, err := newValue(strings.NewReader(tc.in), 0, tc.exact)
		if err != nil || got != tc.want {
			t.Errorf("newValue(%q, exact=%v) = %q, %v; want %q", tc.in, tc.exact, got, err, tc.want)
		}
	}
	_, err := newValue(strings.NewReader(""), 32, true)
	var ce *codeError
	if !errors.As(err, &ce) || ce.code != exitUsage {
		t.Errorf("--keep-newline with --generate: %v, want a usage error", err)
	}
	if _, err := newValue(strings.NewReader("\n"), 0, false); err == nil {
		t.Error("a lone newline is an empty value")
	}
}
