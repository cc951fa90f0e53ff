package reconcile

import (
	"context"
	"strings"
	"testing"
)

// credentialsFunc adapts a function to Credentials.
type credentialsFunc func(name string) (Credential, error)

func (f credentialsFunc) Server(name string) (Credential, error) { return f(name) }

// bare hides every optional method of db's driver: it is a Credential only, neither a Swapper nor a Prober.
func bare(d *db) Credentials {
	return credentialsFunc(func(name string) (Credential, error) { return struct{ Credential }{creds{d, name}}, nil })
}

// TestSwapWithoutSwapper: a driver with no one-step swap is swapped with Stage then Revoke.
func TestSwapWithoutSwapper(t *testing.T) {
	d := newDB(t, "old-pw")
	d.swap = true
	ex := d.executor()
	ex.Credentials = bare(d)
	res, err := Apply(context.Background(), d.desired(), d, ex)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) == 0 || res[0].Outcome != OutcomeRotated {
		t.Fatalf("results = %+v, want rotated", res)
	}
	d.assertOn(t, "new-pw")
}

// TestProbeWithoutProber: a pending revocation on a driver that cannot probe stays pending, and says why.
func TestProbeWithoutProber(t *testing.T) {
	d := newDB(t, "old-pw")
	d.byHand = true
	if res, _ := d.apply(); len(res) == 0 || res[0].Pending == "" {
		t.Fatalf("results = %+v, want a pending revocation", res)
	}
	ex := d.executor()
	ex.Credentials = bare(d)
	res, err := Apply(context.Background(), d.desired(), d, ex)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) == 0 || res[0].Outcome != OutcomePending || !strings.Contains(res[0].Reason, "cannot tell whether a value still logs in") {
		t.Fatalf("results = %+v, want pending: the server cannot tell", res)
	}
}

// TestUnknownServer: a server the credentials do not know fails the check, before anything changes.
func TestUnknownServer(t *testing.T) {
	d := newDB(t, "old-pw")
	ex := d.executor()
	ex.Credentials = credentialsFunc(func(name string) (Credential, error) {
		return nil, &unknownServer{name}
	})
	res, err := Apply(context.Background(), d.desired(), d, ex)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) == 0 || res[0].Outcome == OutcomeRotated || !strings.Contains(res[0].Reason, `no server "db"`) {
		t.Fatalf("results = %+v, want a failure naming the server", res)
	}
	if d.files[dbLoc] != "old-pw" || d.checked != 0 {
		t.Errorf("source %q, %d checks: want nothing changed", d.files[dbLoc], d.checked)
	}
}

type unknownServer struct{ name string }

func (e *unknownServer) Error() string { return `no server "` + e.name + `" in the config` }
