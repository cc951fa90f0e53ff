package postgres

import (
	"context"
	"os/exec"
	"testing"
)

// TestSingleAcceptsReadsTheVerifier: the official image's pg_hba.conf begins with initdb's
// "host all all 127.0.0.1/32 trust", so a login from inside the container succeeds with any value.
// Accepts — what init's confirmation and drift ask — must still tell the stored password from a wrong one.
func TestSingleAcceptsReadsTheVerifier(t *testing.T) {
	st, srv := start(t)
	ctx := context.Background()
	srv.mustSQL(t, "CREATE ROLE single_u LOGIN PASSWORD 'single-right-pw'")
	trust := `f=$(psql -U postgres -Atc 'show hba_file') && { echo "host all all 127.0.0.1/32 trust"; cat "$f"; } > /tmp/hba && cat /tmp/hba > "$f" && psql -U postgres -Atc 'select pg_reload_conf()'`
	if out, err := exec.Command("docker", "exec", "-u", "postgres", st.ContainerID(t, "db"), "sh", "-c", trust).CombinedOutput(); err != nil {
		t.Fatalf("trusting local logins: %v: %s", err, out)
	}
	s := NewSingle("db", srv.exec, "single_u", WithDatabase("shop"))
	if err := s.Verify(ctx, "not-the-password"); err != nil {
		t.Fatalf("the trust line did not take (a wrong value was refused: %v): the test shows nothing", err)
	}
	if ok, err := s.Accepts(ctx, "not-the-password"); err != nil || ok {
		t.Errorf("Accepts(a wrong value) = %v, %v; want false", ok, err)
	}
	if ok, err := s.Accepts(ctx, "single-right-pw"); err != nil || !ok {
		t.Errorf("Accepts(the password) = %v, %v; want true", ok, err)
	}
}
