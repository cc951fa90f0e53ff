// Package statuspage serves a read-only HTML status page for `rekey agent`: one screen that says, at 3 am,
// whether every secret is in sync with Git, what drifted and since when, how the last reconcile and the last
// rotations went, and which alerts are open. It is rendered on the server with html/template, styled by one
// embedded stylesheet, and has no JavaScript and no external assets. GET /status.json serves the same Model
// as JSON.
//
// The agent fills a Model (through a Source) from what it already knows: the journal, the last drift scan,
// the last reconcile and the notifier's open incidents. The page only ever sees names, states, times and
// fingerprints. See docs/statuspage.md.
package statuspage

import (
	"time"

	"github.com/rekeyhq/rekey/reconcile"
)

// Model is everything the status page shows, as of Generated.
//
// It holds names, states, times and HMAC fingerprints only: no field is meant for a secret value, and the
// agent must never put one in it. Free text (Reconcile.Error, Rotation.Reason, Drift.Reason, Alert.Reason)
// must already be redacted when it is set: the page shows it as it is. As a second line of defence the
// handler blanks a Fingerprint that is not "hmac:" followed by hex digits and drops the credentials and the
// query of a Repo URL before showing or serving the model.
type Model struct {
	Generated     time.Time `json:"generated"` // when the model was built; relative ages ("3m ago") count from it
	Version       string    `json:"version"`   // the agent's version, e.g. "v0.9.0" or "dev"
	Repo          string    `json:"repo"`      // the --repo path or URL
	Ref           string    `json:"ref"`       // the --ref followed, e.g. "HEAD" or "main"
	Project       string    `json:"project"`   // the compose project name
	Commit        Commit    `json:"commit"`    // the commit last applied; zero before the first reconcile
	LastReconcile Reconcile `json:"last_reconcile"`
	Secrets       []Secret  `json:"secrets"` // in the order to show, normally by name
	Alerts        []Alert   `json:"alerts"`  // the open alert incidents
}

// Commit is the desired-state commit the agent applied.
type Commit struct {
	Hash    string    `json:"hash"`          // full or short hash; the page shows the first 12 characters
	Subject string    `json:"subject"`       // the first line of the commit message
	Time    time.Time `json:"time,omitzero"` // the committer time
}

// Results of a reconcile, as in the rekey_reconciles_total metric.
const (
	ResultOK      = "ok"
	ResultError   = "error"
	ResultRefused = "refused" // the commit failed the trust checks (signature, rewritten history, replay)
)

// Reconcile is how the last reconcile went. A zero Time means none has run yet.
type Reconcile struct {
	Time   time.Time `json:"time,omitzero"`    // when it ended
	Result string    `json:"result,omitempty"` // ResultOK, ResultError or ResultRefused
	Error  string    `json:"error,omitempty"`  // why it failed, already redacted
}

// Secret is the state of one managed secret.
type Secret struct {
	Name string         `json:"name"`
	Kind reconcile.Kind `json:"kind"`
	// Fingerprint is the fingerprint of the value rekey last applied (reconcile.LastApplied), as rekey prints
	// it: "hmac:" and hex digits. "" when rekey never applied one. The page shows the first 12 hex digits.
	Fingerprint  string   `json:"fingerprint,omitempty"`
	LastRotation Rotation `json:"last_rotation"` // the last transaction that ended; zero when none did
	// Server is the credential server the value is a password of and how old and new overlap there, ""
	// for a value only consumers read.
	Server    string        `json:"server,omitempty"`
	Sources   []SourceState `json:"sources"`   // every place the value is written
	Consumers []Consumer    `json:"consumers"` // in roll order
	// PendingRevocation says an old value is still accepted: an app key's previous value (a rotation
	// verified and keeps it for keep_previous) until PendingUntil, or an external credential's old value
	// that the operator has still to revoke at the provider (no PendingUntil).
	PendingRevocation bool      `json:"pending_revocation"`
	PendingUntil      time.Time `json:"pending_until,omitzero"`
	OpenTxn           *Txn      `json:"open_txn,omitempty"` // the unfinished transaction, if any
}

// Rotation is how the last transaction of a secret ended (its journal end record).
type Rotation struct {
	Time    time.Time         `json:"time,omitzero"`
	Outcome reconcile.Outcome `json:"outcome,omitempty"`
	Reason  string            `json:"reason,omitempty"` // already redacted
}

// Txn is an unfinished rotation.
type Txn struct {
	ID      string          `json:"id"`
	Phase   reconcile.Phase `json:"phase"`
	Started time.Time       `json:"started,omitzero"`
}

// Drift is the last drift scan's verdict on one place (see reconcile.Drift). A zero State means no scan
// covered the place yet.
type Drift struct {
	State  reconcile.DriftState `json:"state,omitempty"`
	Since  time.Time            `json:"since,omitzero"`   // stale-consumer: when the container started
	Reason string               `json:"reason,omitempty"` // already redacted
}

// SourceState is the drift state of one place the secret's value is written: a variable of a dotenv file,
// or a whole file.
type SourceState struct {
	Location string `json:"location"` // reconcile.Location.String(), e.g. "/srv/shop/.env:SESSION_SECRET"
	Drift
}

// Consumer is a compose service or a declared host consumer of a secret.
type Consumer struct {
	Name   string               `json:"name"`
	Action reconcile.RollAction `json:"action"`
	// Containers holds the drift state of each running container of the consumer. A consumer without one
	// (no running container, a declared consumer) has a single entry with an empty ID and state unknown.
	Containers []Container `json:"containers"`
}

// Container is the drift state of one container of a consumer.
type Container struct {
	ID string `json:"id,omitempty"` // short container id
	Drift
}

// Alert is an open alert incident (see notify.Incident).
type Alert struct {
	Key    string    `json:"key"`            // e.g. "drift/webhook-token/consumer/app/3f2a1b0c9d8e"
	State  string    `json:"state"`          // e.g. "stale-consumer", "rolled-back", "refused", "failing"
	Reason string    `json:"reason"`         // already redacted
	Since  time.Time `json:"since,omitzero"` // when it was raised
}
