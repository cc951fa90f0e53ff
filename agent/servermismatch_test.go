package agent

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/notify"
	"github.com/rekeyhq/rekey/reconcile"
)

// TestMonitorServerMismatchAlertsOnce: a credential server that refuses Git's value raises one alert, however
// many scans see it; the scan that finds it accepting again sends one recovery notice; unknown sends none.
func TestMonitorServerMismatchAlertsOnce(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
	}))
	defer srv.Close()
	n, err := notify.New([]string{"generic+" + srv.URL + "/hook"})
	if err != nil {
		t.Fatal(err)
	}
	m := testMonitor(t)
	m.notifier = n
	s := testSession(t)
	place := reconcile.Drift{Secret: "token", Place: reconcile.PlaceServer, Name: "db"}
	scan := func(st reconcile.DriftState, reason string) {
		d := place
		d.State, d.Reason = st, reason
		m.report(s, []reconcile.Drift{d})
	}
	scan(reconcile.DriftInSync, "")
	scan(reconcile.DriftServerMismatch, "the server does not accept the credential in Git")
	scan(reconcile.DriftServerMismatch, "the server does not accept the credential in Git")
	if got := active(m); len(got) != 1 || got["drift/token/server/db"] != string(reconcile.DriftServerMismatch) {
		t.Fatalf("active incidents %v, want the server's mismatch", got)
	}
	scan(reconcile.DriftUnknown, "server unreachable")
	scan(reconcile.DriftUnknown, "server unreachable")
	if got := active(m); len(got) != 1 {
		t.Fatalf("active incidents %v: an unreachable server has not recovered", got)
	}
	scan(reconcile.DriftInSync, "")
	scan(reconcile.DriftInSync, "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 2 {
		t.Fatalf("sent %d messages, want one alert and one recovery notice: %q", len(bodies), bodies)
	}
	if !strings.Contains(bodies[0], "server-mismatch") || !strings.Contains(bodies[0], "server db") {
		t.Errorf("alert %q does not name the state and the server", bodies[0])
	}
	if !strings.Contains(bodies[1], "resolved") {
		t.Errorf("second message %q is not the recovery notice", bodies[1])
	}
}
