package providertest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// values is what both suites keep about the values they hand the driver: each one, to check that no
// error carries it, and the failed logins they caused on purpose, to compare with the server's count.
type values struct {
	prefix   string
	seen     []string
	seq      int
	failures int // failed logins the suite caused on purpose
}

// value makes a fresh value with the characters that break naive quoting.
func (s *values) value() string {
	s.seq++
	v := fmt.Sprintf(`%s%d-%d 'q' "d" \b $x;é`, s.prefix, s.seq, time.Now().UnixNano()%1e6)
	s.seen = append(s.seen, v)
	return v
}

func (s *values) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// clean fails the test when an error carries a value.
func (s *values) clean(t *testing.T, err error) {
	t.Helper()
	for _, v := range s.seen {
		if strings.Contains(err.Error(), v) {
			t.Errorf("an error carries a value: %v", err)
		}
	}
}

// ok stops the test on err, after checking that it carries no value.
func (s *values) ok(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		s.clean(t, err)
		t.Fatalf("%s: %v", what, err)
	}
}
