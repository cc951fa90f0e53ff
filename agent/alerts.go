package agent

import (
	"github.com/rekeyhq/rekey/app"
	"github.com/rekeyhq/rekey/notify"
	"github.com/rekeyhq/rekey/reconcile"
)

// scheduled alerts on a scheduled rotation whose write-back failed (nothing was committed, so no apply
// result speaks for it), and clears the alert once a write-back of that secret works.
func (m *Monitor) scheduled(done []app.Scheduled) {
	for _, sc := range done {
		key := "scheduled/" + sc.Secret
		if sc.Err != nil {
			m.notify().Raise(notify.Incident{Key: key, Kind: notify.KindRotation, Secret: sc.Secret,
				State: "write-back-failed", Reason: m.redact(sc.Err.Error())})
			continue
		}
		m.notify().Clear(key)
	}
	m.countAlerts()
}

// rotationReason is the alert text of a failed rotation: for a transaction left stuck, the exact next
// step first (an alert is cut at 512 characters), then why.
func rotationReason(r reconcile.Result, server string, redact func(string) string) string {
	reason := redact(r.Reason)
	if step := nextStepText(r, server); step != "" {
		return step + ". Cause: " + reason
	}
	return reason
}
