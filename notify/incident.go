package notify

import (
	"strings"
	"time"
)

// Kinds of incident rekey alerts on. Kind is a free string so that a new source of incidents needs no change
// here; these are the ones the agent raises today.
const (
	KindDrift      = "drift"      // a consumer disagrees with the desired state (State: source-edited, stale-consumer, …)
	KindRotation   = "rotation"   // a rotation failed or was rolled back
	KindRefused    = "refused"    // a commit was refused (signature, history rewrite, replay)
	KindRevocation = "revocation" // a pending external revocation is overdue
	KindTransient  = "transient"  // the same transient failure keeps repeating
)

// Incident is one problem that deserves a human's attention. It identifies things by name only: no field
// may ever hold a secret value, and Reason must already be free of values when it is built.
type Incident struct {
	// Key identifies the incident across scans, e.g. "drift/db_password/worker" or "refused/refs/heads/main".
	// It must be stable: de-duplication is by Key. An empty Key is derived from Kind, Secret and Consumer.
	Key      string
	Kind     string // one of the Kind constants, or any other short word
	Secret   string // secret name, "" when the incident is not about one secret
	Consumer string // consumer (service) name, "" when not about one consumer
	State    string // e.g. "source-edited", "stale-consumer", "rolled-back", "refused"
	Commit   string // short sha of the commit involved, "" when none
	Reason   string // human text, free of secret values
	Time     time.Time
}

// key returns the de-duplication key: Key, or one derived from the names when Key is empty, so that callers
// raising drift per secret and consumer need not build keys themselves.
func (inc Incident) key() string {
	if inc.Key != "" {
		return inc.Key
	}
	kind := inc.Kind
	if kind == "" {
		kind = "incident"
	}
	parts := []string{kind}
	for _, p := range []string{inc.Secret, inc.Consumer} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, "/")
}

// sameAlert reports whether b would tell the receiver nothing new after a. Reason and Time are left out on
// purpose: a rescan rewords or re-times the same problem, and alerting on that is the storm we avoid.
func sameAlert(a, b Incident) bool {
	return a.State == b.State && a.Commit == b.Commit
}
