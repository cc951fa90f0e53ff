package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/provider"
)

// psqlAnswer is an Exec that answers every command with one psql exit code and output.
type psqlAnswer struct {
	code int
	out  string
}

func (a psqlAnswer) Exec(context.Context, []string, []byte) (int, []byte, error) {
	return a.code, []byte(a.out), nil
}

// TestAdminNotReadyIsNotALoginProblem: a server that is shutting down or starting up (or refuses the
// connection) is unreachable or not ready, not a login refusal: the message must not send the operator
// to pg_hba.conf. A real login refusal still does.
func TestAdminNotReadyIsNotALoginProblem(t *testing.T) {
	const socket = `psql: error: connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed: `
	for _, tc := range []struct {
		out   string
		login bool // a refused login: the message explains pg_hba.conf
	}{
		{socket + "FATAL:  the database system is shutting down\n", false},
		{socket + "FATAL:  the database system is starting up\n", false},
		{socket + "FATAL:  the database system is in recovery mode\n", false},
		{socket + "FATAL:  sorry, too many clients already\n", false},
		{socket + "Connection refused\n\tIs the server running locally and accepting connections on that socket?\n", false},
		{socket + "FATAL:  Peer authentication failed for user \"postgres\"\n", true},
		{socket + "FATAL:  role \"postgres\" does not exist\n", true},
	} {
		p := New("db", psqlAnswer{code: 2, out: tc.out})
		_, err := p.admin(context.Background(), "SELECT 1;")
		err = p.adminFailed(err)
		if got := strings.Contains(err.Error(), "pg_hba.conf"); got != tc.login {
			t.Errorf("psql said %q: pg_hba.conf in the message %v, want %v: %v", tc.out, got, tc.login, err)
		}
		if got := errors.Is(err, provider.ErrUnreachable); got == tc.login {
			t.Errorf("psql said %q: unreachable %v, want %v: %v", tc.out, got, !tc.login, err)
		}
	}
}
