package agent

import (
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/reconcile"
)

// TestMonitorServerMismatchAlertsOnce: a credential server that refuses Git's value raises one alert, however
// many scans see it; the scan that finds it accepting again sends one recovery notice; unknown sends none.
func TestMonitorServerMismatchAlertsOnce(t *testing.T) {
	n := newAlertSink(t)
	m := testMonitor(t)
	m.notifier = n.Notifier
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
	bodies := n.sent(t)
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
