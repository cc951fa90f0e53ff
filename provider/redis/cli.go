package redis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/rekeyhq/rekey/provider"
)

// replyError is an error reply, or a failed login.
type replyError struct {
	text   string // the server's reply, without "(error) "
	auth   bool   // the login was rejected
	noperm bool   // the user may not run a command
	user   string // who was logged in, or tried to
}

func (e *replyError) Error() string { return e.text }

func cmd(args ...string) []string { return args }

// run opens one redis-cli session inside the container, logs in as l and runs cmds, returning one reply
// per command (error replies included, as "(error) …"). A failed login, or redis-cli failing to run or
// connect, is an error. Commands go on stdin, each argument quoted byte by byte, so values never reach
// argv and need no escaping rules of their own; an ECHO marker after each command splits the replies.
func (r *Redis) run(ctx context.Context, l Login, cmds ...[]string) ([]string, error) {
	var in bytes.Buffer
	line(&in, "AUTH", l.User, l.Password)
	line(&in, "ECHO", marker(0))
	for i, c := range cmds {
		line(&in, c...)
		line(&in, "ECHO", marker(i+1))
	}
	argv := []string{"redis-cli", "--no-raw", "-h", "127.0.0.1", "-p", strconv.Itoa(r.port)}
	code, out, err := r.exec.Exec(ctx, argv, in.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", provider.ErrUnreachable, err)
	}
	// redis-cli prints one reply per command; the first is the login's.
	auth, rest, _ := strings.Cut(string(out), "\n")
	switch {
	case code != 0 || strings.HasPrefix(auth, "Could not connect"):
		return nil, fmt.Errorf("%w: %s (redis-cli exit %d)", provider.ErrUnreachable, firstLine(string(out)), code)
	case auth != "OK":
		return nil, &replyError{text: errorText(auth), auth: true, user: l.User}
	}
	replies := split(rest, len(cmds)+1)
	if replies == nil {
		// A marker is missing: the user may not even run ECHO. Say what the server said.
		for ln := range strings.SplitSeq(rest, "\n") {
			if isError(ln) {
				text := errorText(ln)
				return nil, &replyError{text: text, user: l.User, noperm: strings.HasPrefix(text, "NOPERM")}
			}
		}
		return nil, fmt.Errorf("unexpected output from redis-cli: %q", firstLine(rest))
	}
	return replies[1:], nil
}

// do runs cmds in one session and fails on the first error reply.
func (r *Redis) do(ctx context.Context, l Login, cmds ...[]string) error {
	replies, err := r.run(ctx, l, cmds...)
	if err != nil {
		return err
	}
	return check(replies)
}

// line writes one command: every argument in double quotes, every byte as \xHH.
func line(b *bytes.Buffer, args ...string) {
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteByte('"')
		for j := 0; j < len(a); j++ {
			fmt.Fprintf(b, `\x%02x`, a[j])
		}
		b.WriteByte('"')
	}
	b.WriteByte('\n')
}

func marker(i int) string { return fmt.Sprintf("rekey-reply-%d", i) }

// split cuts redis-cli's output at the markers; nil when one is missing (redis-cli failed).
func split(out string, n int) []string {
	replies := make([]string, 0, n)
	var cur strings.Builder
	next := 0
	for l := range strings.SplitSeq(out, "\n") {
		if next < n && l == strconv.Quote(marker(next)) {
			replies = append(replies, cur.String())
			cur.Reset()
			next++
			continue
		}
		cur.WriteString(l)
		cur.WriteByte('\n')
	}
	if next < n {
		return nil
	}
	return replies
}

// check turns the first error reply among replies into an error.
func check(replies []string) error {
	for _, r := range replies {
		if isError(r) {
			return errors.New(errorText(r))
		}
	}
	return nil
}

func isError(reply string) bool { return strings.HasPrefix(reply, "(error) ") }

// errorText is the text of an error reply, without the arguments Redis echoes for an unknown command or
// subcommand (they would be the values rekey sent).
func errorText(reply string) string {
	s := strings.TrimSpace(strings.TrimPrefix(firstLine(reply), "(error) "))
	if i := strings.Index(s, ", with args beginning with:"); i >= 0 {
		s = s[:i]
	}
	return s
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}

// field reads "name:value" from an INFO reply printed by redis-cli --no-raw (one quoted string).
func field(info, name string) string {
	s, err := strconv.Unquote(strings.TrimSpace(info))
	if err != nil {
		s = info
	}
	for l := range strings.SplitSeq(s, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// configValue reads the value of a one-parameter CONFIG GET reply: `1) "name"` then `2) "value"`.
func configValue(reply string) string {
	lines := strings.Split(strings.TrimSpace(reply), "\n")
	if len(lines) < 2 {
		return ""
	}
	_, v, _ := strings.Cut(lines[1], ") ")
	s, err := strconv.Unquote(strings.TrimSpace(v))
	if err != nil {
		return ""
	}
	return s
}
