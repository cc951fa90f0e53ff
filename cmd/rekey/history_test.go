package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

func TestSplitSecretArg(t *testing.T) {
	for _, tt := range []struct {
		args   []string
		secret string
		limit  int
		ok     bool
	}{
		{args: nil, limit: 50, ok: true},
		{args: []string{"--limit", "3"}, limit: 3, ok: true},
		{args: []string{"session-key"}, secret: "session-key", limit: 50, ok: true},
		{args: []string{"--limit", "2", "session-key", "--output", "json"}, secret: "session-key", limit: 2, ok: true},
		{args: []string{"session-key", "--limit", "7"}, secret: "session-key", limit: 7, ok: true},
		{args: []string{"a", "b"}},
		{args: []string{"--limit", "-1"}},
		{args: []string{"--bogus"}},
	} {
		c := historyCmd(env{})
		err := c.ParseFlags(tt.args)
		pos := c.Flags().Args()
		if err == nil {
			err = c.ValidateArgs(pos)
		}
		limit, _ := c.Flags().GetInt("limit")
		var secret string
		if len(pos) == 1 {
			secret = pos[0]
		}
		if err == nil && limit < 0 {
			err = usageError("negative")
		}
		if (err == nil) != tt.ok {
			t.Errorf("%q: err = %v, want ok=%v", tt.args, err, tt.ok)
			continue
		}
		if tt.ok && (secret != tt.secret || limit != tt.limit) {
			t.Errorf("%q: secret %q limit %d, want %q %d", tt.args, secret, limit, tt.secret, tt.limit)
		}
	}
	var stdout bytes.Buffer
	if code := run(context.Background(), []string{"history", "-h"}, env{stdout: &stdout, stderr: io.Discard}); code != exitOK || !strings.Contains(stdout.String(), "--limit") {
		t.Errorf("-h: exit %d, stdout %q", code, stdout.String())
	}
}
