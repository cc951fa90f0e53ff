package live

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/provider"
	"github.com/rekeyhq/rekey/reconcile"
)

// fakeServer is a credential server that accepts one password; Verify is the only call drift may make.
type fakeServer struct {
	reconcile.Credential // any other call panics: drift must change nothing
	password             string
	down                 bool
	logins               int
}

func (f *fakeServer) Verify(_ context.Context, v string) error {
	f.logins++
	switch {
	case f.down:
		return fmt.Errorf("fake: %w: connection refused", provider.ErrUnreachable)
	case v != f.password:
		return errors.New("fake: password authentication failed")
	}
	return nil
}

// fakeProber accepts one password through Accepts; Verify must not be called.
type fakeProber struct {
	reconcile.Credential
	password string
}

func (f *fakeProber) Accepts(_ context.Context, v string) (bool, error) { return v == f.password, nil }

type fakeServers map[string]reconcile.Credential

func (f fakeServers) Server(name string) (reconcile.Credential, error) {
	if c, ok := f[name]; ok {
		return c, nil
	}
	return nil, fmt.Errorf("no server %q in the config", name)
}

const gitValue = "git-value-7f3a"

func fp(v string) string { return "fp:" + v[:3] }

// serverScan scans one secret whose Git value rekey applied, with credential server "db".
func serverScan(t *testing.T, s *DriftScanner) reconcile.Drift {
	t.Helper()
	s.FP, s.Values = fp, map[string]string{"db-password": gitValue}
	s.Journal = Records{"db-password": {{Secret: "db-password", Type: reconcile.RecordSynced, ToFP: fp(gitValue)}}}
	d := reconcile.Desired{Secrets: []reconcile.Secret{{Name: "db-password", DesiredFP: fp(gitValue),
		Server: &reconcile.Server{Name: "db"}}}}
	ds, err := s.Scan(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].Place != reconcile.PlaceServer || ds[0].Name != "db" {
		t.Fatalf("scan = %+v, want the server db only", ds)
	}
	for _, text := range []string{ds[0].Reason, fmt.Sprint(ds[0])} {
		if strings.Contains(text, gitValue) {
			t.Fatalf("the value leaked: %q", text)
		}
	}
	return ds[0]
}

func TestDriftAsksServer(t *testing.T) {
	cases := []struct {
		name   string
		server reconcile.Credential
		want   reconcile.DriftState
	}{
		{"accepts", &fakeServer{password: gitValue}, reconcile.DriftInSync},
		{"changed by hand", &fakeServer{password: "by-hand"}, reconcile.DriftServerMismatch},
		{"unreachable", &fakeServer{password: gitValue, down: true}, reconcile.DriftUnknown},
		{"prober accepts", &fakeProber{password: gitValue}, reconcile.DriftInSync},
		{"prober refuses", &fakeProber{password: "by-hand"}, reconcile.DriftServerMismatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := serverScan(t, &DriftScanner{Servers: fakeServers{"db": c.server}})
			if d.State != c.want {
				t.Fatalf("state = %s (%s), want %s", d.State, d.Reason, c.want)
			}
		})
	}
}

func TestDriftServerDriversMissing(t *testing.T) {
	d := serverScan(t, &DriftScanner{ServersErr: errors.New("server db: the admin password is missing")})
	if d.State != reconcile.DriftUnknown || !strings.Contains(d.Reason, "admin password") {
		t.Fatalf("got %s (%s), want unknown with the reason", d.State, d.Reason)
	}
}

func TestDriftServerRateLimited(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	v := NewServerVerdicts(5 * time.Minute)
	v.Now = func() time.Time { return now }
	srv := &fakeServer{password: gitValue}
	scan := func() reconcile.DriftState {
		return serverScan(t, &DriftScanner{Servers: fakeServers{"db": srv}, Verdicts: v}).State
	}
	if st := scan(); st != reconcile.DriftInSync || srv.logins != 1 {
		t.Fatalf("first scan: %s after %d logins", st, srv.logins)
	}
	srv.password = "by-hand"
	now = now.Add(4 * time.Minute)
	if st := scan(); st != reconcile.DriftInSync || srv.logins != 1 {
		t.Fatalf("within the limit: %s after %d logins, want the remembered verdict and no login", st, srv.logins)
	}
	now = now.Add(time.Minute)
	if st := scan(); st != reconcile.DriftServerMismatch || srv.logins != 2 {
		t.Fatalf("after the limit: %s after %d logins, want a new login", st, srv.logins)
	}
	// Without verdicts (rekey drift) every scan asks.
	_ = serverScan(t, &DriftScanner{Servers: fakeServers{"db": srv}})
	_ = serverScan(t, &DriftScanner{Servers: fakeServers{"db": srv}})
	if srv.logins != 4 {
		t.Fatalf("logins = %d, want every scan to ask", srv.logins)
	}
}

func TestDriftLeavesServersOutWithoutDrivers(t *testing.T) {
	s := &DriftScanner{FP: fp, Values: map[string]string{"db-password": gitValue}, Journal: Records{}}
	d := reconcile.Desired{Secrets: []reconcile.Secret{{Name: "db-password", DesiredFP: fp(gitValue),
		Server: &reconcile.Server{Name: "db"}}}}
	ds, err := s.Scan(context.Background(), d)
	if err != nil || len(ds) != 0 {
		t.Fatalf("scan = %+v, %v: want no server place", ds, err)
	}
}

// TestDriftNoConsumers: on a Swarm stack the scan leaves the consumers out (no Compose container runs
// them) instead of calling each one unknown; the sources and servers are still judged.
func TestDriftNoConsumers(t *testing.T) {
	s := &DriftScanner{FP: fp, Values: map[string]string{"db-password": gitValue}, NoConsumers: true,
		Journal: Records{"db-password": {{Secret: "db-password", Type: reconcile.RecordSynced, ToFP: fp(gitValue)}}}}
	d := reconcile.Desired{Secrets: []reconcile.Secret{{Name: "db-password", DesiredFP: fp(gitValue),
		Consumers: []reconcile.Consumer{{Name: "api", Action: reconcile.Recreate}}}}}
	ds, err := s.Scan(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	for _, dr := range ds {
		if dr.Place == reconcile.PlaceConsumer {
			t.Errorf("a consumer was scanned: %+v", dr)
		}
	}
}
