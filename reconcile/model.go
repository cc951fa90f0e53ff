// Package reconcile holds rekey's model of desired and observed secret state, the pure planner that turns
// the difference into a Plan, and the executor that carries a Plan out through small interfaces that the
// adapters at the edge implement. It imports only the standard library.
package reconcile

import (
	"fmt"
	"time"
)

// Kind says how a secret can overlap old and new values during a rotation.
type Kind string

const (
	// KindAppKey is a key the application accepts under two names: the current one signs, the previous
	// one is still accepted. Rotation stages current=new, previous=old, and clears previous at the end.
	KindAppKey Kind = "app-key"
	// KindToken is a single value with no overlap: consumers switch as they roll.
	KindToken Kind = "token"
)

// Location is one place a value is written: a variable in a dotenv-style file, or a whole file.
type Location struct {
	Path string // absolute host path
	Key  string // variable name; "" means the whole file is the value
	// Form names the form a derived location holds (rendered from the value, see derived.go); "" for
	// the plain value.
	Form string
}

func (l Location) String() string {
	s := l.Path
	if l.Key != "" {
		s += ":" + l.Key
	}
	if l.Form != "" {
		s += " (derived)"
	}
	return s
}

// RollAction is what a consumer needs to pick up a new value.
type RollAction string

const (
	// Recreate rebuilds the container from the compose model (environment changed).
	Recreate RollAction = "recreate"
	// Restart restarts the container in place (a mounted file changed; compose does not notice).
	Restart RollAction = "restart"
	// NoRoll is for consumers rekey cannot restart (host scripts): they are only verified.
	NoRoll RollAction = "none"
)

// Consumer is a compose service or a host consumer of a secret.
type Consumer struct {
	Name   string     `json:"name"`             // service name, or the host file for host consumers
	Action RollAction `json:"action"`           // how it picks up a new value
	Via    []string   `json:"via,omitempty"`    // why it is a consumer, for humans (e.g. "interpolation:environment")
	Checks []Check    `json:"checks,omitempty"` // verification specific to this consumer
	// Strategy is how a recreate replaces the containers (rollstrategy.go), Why the reason it was chosen.
	Strategy RollStrategy `json:"strategy,omitempty"`
	Why      string       `json:"strategy_why,omitempty"`
}

// Secret is the desired state of one secret, with everything the plan needs to know about it.
type Secret struct {
	Name         string
	Kind         Kind
	Current      []Location // every place that holds the current value
	Previous     []Location // app-key: every place that holds the previous value
	Consumers    []Consumer // in roll order
	Checks       []Check    // run after each consumer rolls
	KeepPrevious time.Duration
	DesiredFP    string // fingerprint of the value in Git
	// Heal re-applies Git's value when the live value drifted while Git did not change. Without it, drift
	// is reported and left alone: it may be an operator's emergency fix.
	Heal bool
	// Server is the credential server the value is a credential of, nil for values only consumers read.
	Server *Server
	// Logins are places that hold the login (user name) the value logs in as, for servers that alternate
	// between two logins: they are written with the value, with the login the server staged it on.
	Logins []Location
	// Swap rotates a server credential without overlap, in a maintenance window: consumers are stopped,
	// the server switched to the new value, sources written, consumers started again in order.
	Swap bool
	// Keep marks a value that protects data (an encryption key, a salt, an OTP seed): replacing a live
	// value destroys what it protects, so a change is refused unless AllowDestroy says the commit means it.
	Keep         bool
	AllowDestroy bool
}

// Server is a credential server (a database, Redis) that must accept a secret's value. A rotation makes
// the server accept the new value next to the old one before any source changes, and revokes the old
// value only once every consumer verified the new one.
type Server struct {
	Name      string `json:"name"`      // as named in the config; the Credentials port is keyed by it
	Mechanism string `json:"mechanism"` // how old and new values overlap on this server, for humans
	// Service is the compose service running the server when it reads the secret too (a password given to
	// the server as an environment variable). It is not rolled with the consumers: restarting the server
	// on its config would drop the old value while consumers still use it. It is rolled after the revoke,
	// when the server holds the new value only, so that a later restart does not bring the old one back.
	Service string     `json:"service,omitempty"`
	Roll    RollAction `json:"roll,omitempty"` // how Service picks the value up
}

// Desired is the whole desired state, secrets sorted by name.
type Desired struct {
	Revision string // the commit the desired state comes from
	Secrets  []Secret
	// Retry tries again a rotation whose last attempt rolled back. An operator's `rekey apply` sets it;
	// the agent does not, so a value that fails verification is not rolled out again and again.
	Retry bool
	// Heal is Secret.Heal for every secret (an operator's `rekey apply --heal`).
	Heal bool
	// Orphans are secrets no longer declared whose transaction the journal holds open (the observer
	// gives their Txn): each is finished or rolled back from what its begin record touched (orphan.go).
	Orphans []string
}

// Observed is what is live: fingerprints at every location and unfinished transactions.
type Observed struct {
	Now     time.Time
	Secrets map[string]SecretState
}

// SecretState is the observed state of one secret. Fingerprints are "" where the value is missing or empty.
type SecretState struct {
	Current  map[Location]string
	Previous map[Location]string
	Txn      *Txn // the unfinished transaction from the journal, if any
	// Revoked says the desired value was removed by an earlier rotation (see Revoked).
	Revoked bool
	// RolledBack is the fingerprint the last transaction tried and rolled back, "" if it did not.
	RolledBack string
	// RerollRolledBack is the fingerprint whose last heal re-roll rolled back (see LastRerollRolledBack).
	RerollRolledBack string
	// Applied is the fingerprint rekey last put in place (see LastApplied), "" if never.
	Applied string
	// Stale lists the consumers whose containers run another value than their sources hold; only filled
	// when a drift scan ran (for heal).
	Stale []string
	// Pending are old values still to be revoked by hand (see PendingRevocations).
	Pending []string
	// Forms are the fingerprints of the forms at the derived locations, as written (see derived.go).
	Forms map[Location]string
}

// Phase is how far a transaction got. The order matters: a transaction that crashed before
// PhaseVerified is rolled back, one at or after it is finished forward.
type Phase int

const (
	PhaseStarted    Phase = iota + 1 // snapshot taken or being taken
	PhaseWriting                     // sources may have been changed
	PhaseRolling                     // consumers may have been rolled
	PhaseVerified                    // every consumer verified the new value
	PhaseFinalizing                  // previous value being dropped
)

var phaseNames = map[Phase]string{
	PhaseStarted: "started", PhaseWriting: "writing", PhaseRolling: "rolling",
	PhaseVerified: "verified", PhaseFinalizing: "finalizing",
}

// MarshalText writes the phase by name, for JSON output.
func (p Phase) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText reads a phase by name.
func (p *Phase) UnmarshalText(b []byte) error {
	for k, v := range phaseNames {
		if v == string(b) {
			*p = k
			return nil
		}
	}
	return fmt.Errorf("unknown phase %q", b)
}

func (p Phase) String() string {
	if s, ok := phaseNames[p]; ok {
		return s
	}
	return fmt.Sprintf("phase(%d)", int(p))
}

// Txn is an unfinished rotation as the journal remembers it.
type Txn struct {
	ID            string     `json:"id"`
	Secret        string     `json:"secret"`
	Revision      string     `json:"revision,omitempty"`
	Phase         Phase      `json:"phase"`
	FromFP        string     `json:"from_fp,omitempty"`
	ToFP          string     `json:"to_fp,omitempty"`
	Rolled        []Consumer `json:"rolled,omitempty"` // consumers that may have been rolled (intent recorded), in order
	FinalizeAfter time.Time  `json:"finalize_after,omitzero"`
	Started       time.Time  `json:"started"`
	Kept          *Txn       `json:"kept,omitempty"`      // a verified rotation this one supersedes once it verifies
	Footprint     *Footprint `json:"footprint,omitempty"` // what it touches, from its begin record (nil before footprints were recorded)
}
