package redis

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// recorder is a redis-cli that answers every command with OK and records the commands it got, unquoted.
type recorder struct{ cmds [][]string }

func (r *recorder) Exec(_ context.Context, _ []string, stdin []byte) (int, []byte, error) {
	var out strings.Builder
	for ln := range strings.SplitSeq(strings.TrimSpace(string(stdin)), "\n") {
		args := unquote(ln)
		r.cmds = append(r.cmds, args)
		switch {
		case args[0] == "ECHO":
			out.WriteString(strconv.Quote(args[1]) + "\n")
		case args[0] == "CONFIG" && args[1] == "GET":
			out.WriteString("1) \"aclfile\"\n2) \"\"\n")
		case args[0] == "INFO":
			out.WriteString(strconv.Quote("# Server\nredis_version:7.2.4\n") + "\n")
		default:
			out.WriteString("OK\n")
		}
	}
	return 0, []byte(out.String()), nil
}

// unquote reverses line: `"\x41\x42" "\x43"` -> [AB C].
func unquote(ln string) []string {
	var args []string
	for f := range strings.FieldsSeq(ln) {
		var b strings.Builder
		s := strings.Trim(f, `"`)
		for i := 0; i+4 <= len(s); i += 4 {
			var c byte
			fmt.Sscanf(s[i+2:i+4], "%02x", &c)
			b.WriteByte(c)
		}
		args = append(args, b.String())
	}
	return args
}

// Stage, Revoke and Unstage give Redis the new and old passwords as SHA-256 hashes in ACL SETUSER, never
// in clear; only AUTH (a login) and CONFIG SET requirepass (which takes nothing else) carry values.
func TestACLRulesCarryHashesOnly(t *testing.T) {
	ctx := context.Background()
	const current, next = "current-value-0123456789", "next-value-abcdefghijkl"
	for _, user := range []string{"default", "app"} {
		rec := &recorder{}
		r := New("cache", rec, WithUser(user))
		if _, err := r.Stage(ctx, current, next); err != nil {
			t.Fatal(err)
		}
		if err := r.Revoke(ctx, next); err != nil {
			t.Fatal(err)
		}
		if err := r.Unstage(ctx, current, next); err != nil {
			t.Fatal(err)
		}
		var setusers int
		for _, c := range rec.cmds {
			line := strings.Join(c, " ")
			switch {
			case c[0] == "AUTH", c[0] == "CONFIG" && c[1] == "SET" && c[2] == "requirepass":
				continue
			case c[0] == "ACL" && c[1] == "SETUSER":
				setusers++
				last := c[len(c)-1]
				if last != hashOf(next) && last != hashOf(current) {
					t.Errorf("user %s: ACL SETUSER without a hashed password: %q", user, line)
				}
			}
			if strings.Contains(line, current) || strings.Contains(line, next) {
				t.Errorf("user %s: a value in clear in %q", user, line)
			}
		}
		if setusers != 3 {
			t.Errorf("user %s: %d ACL SETUSER, want 3 (stage, revoke, unstage)", user, setusers)
		}
	}
}

func hashOf(v string) string {
	sum := sha256.Sum256([]byte(v))
	return "#" + hex.EncodeToString(sum[:])
}
