package reconcile

import (
	"sort"
	"time"
)

// DriftState classifies one place a secret lives, compared with Git.
type DriftState string

const (
	DriftInSync DriftState = "in-sync"
	// DriftSourceEdited: a source (an env file, a secret file, a host file) holds another value than Git,
	// and Git did not change since rekey applied it — someone edited it by hand. A consumer is
	// source-edited when it runs the value of its edited source.
	DriftSourceEdited DriftState = "source-edited"
	// DriftStaleConsumer: a container runs another value than its source holds, e.g. it was started
	// before the source changed and never recreated.
	DriftStaleConsumer DriftState = "stale-consumer"
	// DriftServerMismatch: the credential server does not accept the desired credential.
	DriftServerMismatch DriftState = "server-mismatch"
	// DriftUnknown: the place could not be read; Reason says why.
	DriftUnknown DriftState = "unknown"
	// DriftPending is not drift: Git changed since rekey last applied it (or rekey never did), or a
	// rotation is in progress, and the next reconcile takes care of it.
	DriftPending DriftState = "pending"
)

// Drifted reports whether the state is drift that needs a human (or heal).
func (s DriftState) Drifted() bool {
	return s == DriftSourceEdited || s == DriftStaleConsumer || s == DriftServerMismatch
}

// Place kinds.
const (
	PlaceSource   = "source"
	PlaceConsumer = "consumer"
	PlaceServer   = "server"
)

// Drift is the state of one place of one secret. It carries fingerprints' verdicts, never values.
type Drift struct {
	Secret    string     `json:"secret"`
	Place     string     `json:"place"` // PlaceSource, PlaceConsumer or PlaceServer
	Name      string     `json:"name"`  // the location, consumer or server
	Container string     `json:"container,omitempty"`
	State     DriftState `json:"state"`
	Since     time.Time  `json:"since,omitzero"` // stale-consumer: when the container started
	Reason    string     `json:"reason,omitempty"`
}

// Key identifies the place across scans, e.g. for alerts.
func (d Drift) Key() string {
	k := d.Secret + "/" + d.Place + "/" + d.Name
	if d.Container != "" {
		k += "/" + d.Container
	}
	return k
}

// LiveConsumer is what one container of a consumer runs, as fingerprints of the parts of its
// configuration that carry the secret (computed by the adapter that read it).
type LiveConsumer struct {
	Consumer  string
	Container string    // short id
	Started   time.Time // State.StartedAt
	FP        string    // what the container runs
	DesiredFP string    // what it would run with the value in Git
	SourceFP  string    // what it would run with the value now in its sources
	Err       string    // why it could not be read; the other fields are then unset
}

// LiveServer is the credential server's verdict on the desired credential.
type LiveServer struct {
	Name    string
	Accepts bool   // the desired credential logs in
	Err     string // why it could not be checked
}

// DriftInput is everything observed about one secret for a drift scan.
type DriftInput struct {
	Sources   map[Location]string // fingerprint at each current location ("" when missing or empty)
	SourceErr map[Location]string // why a location could not be read
	Consumers []LiveConsumer
	Servers   []LiveServer
	Applied   string // fingerprint rekey last applied (see LastApplied), "" if never
	Txn       *Txn   // the unfinished transaction, if any
}

// Classify compares what is live with Git for one secret. A secret whose Git value rekey has not applied
// yet (or is applying) is pending everywhere it differs: that is work for the planner, not drift.
func Classify(s Secret, in DriftInput) []Drift {
	pending := ""
	switch {
	case in.Txn != nil && in.Txn.Phase < PhaseVerified:
		pending = "rotation " + in.Txn.ID + " in progress"
	case in.Applied != s.DesiredFP:
		pending = "Git changed since rekey last applied this secret; the next reconcile rotates it"
	}
	var out []Drift
	for _, l := range s.Current {
		d := Drift{Secret: s.Name, Place: PlaceSource, Name: l.String()}
		fp := in.Sources[l]
		switch {
		case in.SourceErr[l] != "":
			d.State, d.Reason = DriftUnknown, in.SourceErr[l]
		case fp == s.DesiredFP:
			d.State = DriftInSync
		case pending != "":
			d.State, d.Reason = DriftPending, pending
		case fp == "":
			d.State, d.Reason = DriftSourceEdited, "the value is missing or empty"
		default:
			d.State, d.Reason = DriftSourceEdited, "holds another value than Git"
		}
		out = append(out, d)
	}
	for _, c := range in.Consumers {
		out = append(out, classifyConsumer(s.Name, c, pending))
	}
	for _, sv := range in.Servers {
		d := Drift{Secret: s.Name, Place: PlaceServer, Name: sv.Name, State: DriftInSync}
		switch {
		case sv.Err != "":
			d.State, d.Reason = DriftUnknown, sv.Err
		case !sv.Accepts && pending != "":
			d.State, d.Reason = DriftPending, pending
		case !sv.Accepts:
			d.State, d.Reason = DriftServerMismatch, "the server does not accept the credential in Git"
		}
		out = append(out, d)
	}
	return out
}

func classifyConsumer(secret string, c LiveConsumer, pending string) Drift {
	d := Drift{Secret: secret, Place: PlaceConsumer, Name: c.Consumer, Container: c.Container}
	switch {
	case c.Err != "":
		d.State, d.Reason = DriftUnknown, c.Err
	case c.FP == c.DesiredFP:
		d.State = DriftInSync
	case pending != "":
		d.State, d.Reason = DriftPending, pending
	case c.FP == c.SourceFP:
		d.State, d.Reason = DriftSourceEdited, "runs the value of its hand-edited source"
	default:
		d.State, d.Since = DriftStaleConsumer, c.Started
		d.Reason = "runs another value than its source holds: it started before the source changed"
	}
	return d
}

// SortDrift orders a scan for output: by secret, sources first, then consumers and servers, by name.
func SortDrift(ds []Drift) {
	rank := map[string]int{PlaceSource: 0, PlaceConsumer: 1, PlaceServer: 2}
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i], ds[j]
		if a.Secret != b.Secret {
			return a.Secret < b.Secret
		}
		if a.Place != b.Place {
			return rank[a.Place] < rank[b.Place]
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Container < b.Container
	})
}
