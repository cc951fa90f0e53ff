package reconcile

import (
	"fmt"
	"strings"
	"time"
)

// Action is what a plan does for one secret.
type Action string

const (
	ActionNone     Action = "in-sync"  // nothing to do
	ActionRotate   Action = "rotate"   // move every location and consumer to the desired value
	ActionFinalize Action = "finalize" // drop the previous value of a verified rotation
	ActionWait     Action = "wait"     // previous value kept until its window ends
	ActionRecover  Action = "recover"  // roll back a transaction interrupted before it verified
	ActionRefuse   Action = "refuse"   // the desired value was revoked before (never applied again), or would destroy data (rotation: never)
	ActionHold     Action = "hold"     // the last attempt at this value rolled back: wait for a new value or a retry
	ActionDrift    Action = "drift"    // the live value drifted while Git did not change: report, do not overwrite
	ActionProbe    Action = "probe"    // check whether old values pending revocation still log in
	ActionDefer    Action = "defer"    // waits for an undeclared secret's open transaction on the same files, consumers or server (orphan.go)
)

// StepKind names a step of a plan.
type StepKind string

const (
	StepBegin     StepKind = "begin"     // record the transaction in the journal
	StepSnapshot  StepKind = "snapshot"  // stash the values at the locations the transaction changes
	StepWrite     StepKind = "write"     // write a value to a location, in place
	StepRoll      StepKind = "roll"      // recreate or restart a consumer
	StepHealth    StepKind = "health"    // wait until a consumer is healthy
	StepVerify    StepKind = "verify"    // run a check
	StepVerified  StepKind = "verified"  // record that every consumer verified the new value
	StepRestore   StepKind = "restore"   // put the snapshot back in place
	StepFinalize  StepKind = "finalize"  // record that the previous value is being dropped
	StepCommitted StepKind = "committed" // record the end of the transaction
	// Credential server steps (secrets with a Server).
	StepCheck   StepKind = "check"   // before anything changes: the server works and accepts the current value
	StepStage   StepKind = "stage"   // make the server accept the new value next to the old one
	StepLogin   StepKind = "login"   // confirm the new value logs in on the server
	StepDrain   StepKind = "drain"   // wait until no session uses the old value
	StepRevoke  StepKind = "revoke"  // make the server accept the new value only
	StepUnstage StepKind = "unstage" // make the server accept the old value only again (rollback)
	StepProbe   StepKind = "probe"   // does an old value pending revocation still log in?
	StepStop    StepKind = "stop"    // swap: stop a consumer until it is rolled again
	StepSwap    StepKind = "swap"    // swap: make the server accept the new value only
)

// ValueRef says which value a write step writes, without carrying it.
type ValueRef string

const (
	ValueDesired    ValueRef = "desired"     // the value from Git
	ValueOldCurrent ValueRef = "old-current" // the value the current location held before the transaction
	ValueEmpty      ValueRef = "empty"       // clears the location
	ValueLogin      ValueRef = "login"       // the login the server staged the desired value on
)

// Step is one action of a plan. It names values by fingerprint only.
type Step struct {
	Kind      StepKind
	Location  Location     // write
	Value     ValueRef     // write
	From      Location     // write of ValueOldCurrent: where the old value is read
	FP        string       // write: fingerprint of the value written ("" when empty)
	Locations []Location   // snapshot
	Consumer  string       // roll, health
	Roll      RollAction   // roll
	Strategy  RollStrategy // roll of a recreate: start-first or stop-first ("" when not decided)
	Why       string       // roll: why that strategy
	Check     *Check       // verify
	After     time.Time    // verified: when the previous value may be dropped
	Server    string       // credential server steps
}

func (s Step) String() string {
	switch s.Kind {
	case StepSnapshot:
		names := make([]string, len(s.Locations))
		for i, l := range s.Locations {
			names[i] = l.String()
		}
		return "snapshot " + strings.Join(names, ", ")
	case StepWrite:
		if s.Value == ValueEmpty {
			return fmt.Sprintf("clear %s", s.Location)
		}
		if s.Value == ValueLogin {
			return fmt.Sprintf("write %s = the login %s was staged on", s.Location, s.FP)
		}
		return fmt.Sprintf("write %s = %s (%s)", s.Location, s.FP, s.Value)
	case StepRoll:
		return fmt.Sprintf("%s %s%s", s.Roll, s.Consumer, rollNote(s))
	case StepHealth:
		return "wait healthy " + s.Consumer
	case StepVerify:
		return "verify " + s.Check.String()
	case StepCheck:
		return fmt.Sprintf("check %s accepts the current value %s", s.Server, s.FP)
	case StepStage:
		return fmt.Sprintf("stage %s on %s (the old value keeps working)", s.FP, s.Server)
	case StepLogin:
		return fmt.Sprintf("verify %s logs in on %s", s.FP, s.Server)
	case StepDrain:
		return fmt.Sprintf("wait until no session on %s uses the old value", s.Server)
	case StepRevoke:
		return fmt.Sprintf("revoke the old value on %s (accept %s only)", s.Server, s.FP)
	case StepUnstage:
		return fmt.Sprintf("unstage on %s (accept the old value only)", s.Server)
	case StepStop:
		return "stop " + s.Consumer
	case StepSwap:
		return fmt.Sprintf("swap %s in on %s (the old value stops working)", s.FP, s.Server)
	case StepProbe:
		return fmt.Sprintf("probe whether %s, pending revocation, still logs in on %s", s.FP, s.Server)
	case StepVerified:
		if !s.After.IsZero() {
			return "record verified; keep previous until " + s.After.UTC().Format(time.RFC3339)
		}
		return "record verified"
	}
	return string(s.Kind)
}

// SecretPlan is the plan for one secret.
type SecretPlan struct {
	Secret   string
	Kind     Kind
	Action   Action
	FromFP   string // fingerprint live now ("" if missing)
	ToFP     string // fingerprint after the plan
	Note     string // why, for humans
	Steps    []Step
	Txn      *Txn // recover/finalize: the transaction being finished
	Revision string
	Server   string   // the secret's credential server, "" if none
	Current  Location // where the value consumers use now is read (the first current location)
	Swap     bool     // the server credential changes without overlap (see Secret.Swap)
	order    []string // swap: the consumers' roll order, to start them again in it
	// Adopt: everything already holds the desired value, but the journal does not know it yet; recording
	// it makes a later hand edit count as drift.
	Adopt bool
	// Incidents are the other secrets' open transactions when the plan runs (isolate.go), set by Apply.
	Incidents []Incident
	// Forms are the secret's derived locations as they are live (see derived.go), for plan's output.
	Forms []FormState
	// Footprint is what a rotation touches, recorded in its begin record (footprint.go).
	Footprint *Footprint
	// Orphan says the secret is no longer declared: the plan finishes or rolls back its open transaction
	// from the journal (orphan.go).
	Orphan bool
}

// Plan is the ordered work for every secret. Secrets are independent transactions.
type Plan struct {
	Secrets []SecretPlan
}

// Pending reports whether the plan changes anything.
func (p Plan) Pending() bool {
	for _, sp := range p.Secrets {
		if len(sp.Steps) > 0 {
			return true
		}
	}
	return false
}

// String renders the plan deterministically; planner tests compare against it.
func (p Plan) String() string {
	var b strings.Builder
	for _, sp := range p.Secrets {
		b.WriteString(sp.header())
		b.WriteByte('\n')
		for i, st := range sp.Steps {
			fmt.Fprintf(&b, "  %d. %s\n", i+1, st)
		}
	}
	return b.String()
}

func (sp SecretPlan) header() string {
	h := fmt.Sprintf("secret %s (%s): %s", sp.Secret, sp.Kind, sp.Action)
	switch sp.Action {
	case ActionRotate:
		h += fmt.Sprintf(" %s → %s", orNone(sp.FromFP), sp.ToFP)
	case ActionNone:
		h += " " + orNone(sp.ToFP)
	}
	if sp.Note != "" {
		h += " — " + sp.Note
	}
	return h
}

func orNone(fp string) string {
	if fp == "" {
		return "(none)"
	}
	return fp
}
