package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Executor carries out a SecretPlan through the seams in ports.go, journaling intent before every side
// effect, and rolls back when anything fails before the new value is verified everywhere.
type Executor struct {
	Values   func(secret string) (string, bool) // desired plaintext values, in memory only
	Reader   ValueReader
	Writer   ValueWriter
	Stash    Stash
	Roller   Roller
	Health   HealthGate
	Verifier Verifier
	// Credentials drives credential servers, for secrets with a Server (optional otherwise).
	Credentials Credentials
	Journal     Journal
	Now         func() time.Time
	NewID       func() string
	Progress    func(Event) // optional
	// FP fingerprints a value the way the observer does; retiring an old value on a server checks with it
	// that the sources still hold the value the transaction rotated to.
	FP func(string) string
	// Redact removes secret values from error text before it is reported or journaled (optional).
	Redact func(string) string
	// RollbackTimeout bounds every rollback; a rollback runs even after the caller's context was
	// cancelled (SIGINT), so that an interrupted rotation never stays half-applied.
	RollbackTimeout time.Duration
	// HealWait bounds how long a failed server step waits for a server that does not answer before it
	// gives up (heal.go); 30s when zero.
	HealWait time.Duration
}

// Event reports progress to the user interface.
type Event struct {
	Time    time.Time     `json:"time"`
	Secret  string        `json:"secret"`
	Txn     string        `json:"txn,omitempty"`
	Step    string        `json:"step"`
	Status  string        `json:"status"` // start, ok, failed
	Elapsed time.Duration `json:"elapsed_ns,omitempty"`
	Err     string        `json:"error,omitempty"`
}

// Result is what happened to one secret.
type Result struct {
	Secret  string  `json:"secret"`
	Action  Action  `json:"action"`
	Outcome Outcome `json:"outcome"`
	Txn     string  `json:"txn,omitempty"`
	FromFP  string  `json:"from_fp,omitempty"`
	ToFP    string  `json:"to_fp,omitempty"`
	Note    string  `json:"note,omitempty"`
	Reason  string  `json:"reason,omitempty"`
	// Pending is the fingerprint of an old value left to revoke by hand at the provider, "" if none.
	Pending string       `json:"pending_revocation,omitempty"`
	Steps   []StepResult `json:"steps,omitempty"`
}

// StepResult is one executed step.
type StepResult struct {
	Step    string        `json:"step"`
	Elapsed time.Duration `json:"elapsed_ns"`
	Err     string        `json:"error,omitempty"`
}

// run is the state of one plan's execution.
type run struct {
	e         *Executor
	sp        SecretPlan
	txn       string
	phase     Phase
	since     time.Time
	rolled    []Consumer
	res       Result
	staged    bool      // the server may have been told to accept the new value
	login     string    // the login the server staged the new value on ("" when logins do not alternate)
	stoppedAt time.Time // swap: when the first consumer stopped
	hidden    []string  // values read back from the stash, unknown to Redact (an old value, a pending one)
	snap      *snapshot // the transaction's snapshot, once taken or loaded (snapshot.go)
}

// Run executes one secret's plan and reports its outcome. It never panics on adapter errors: every
// failure ends in a recorded outcome.
func (e *Executor) Run(ctx context.Context, sp SecretPlan) Result {
	r := &run{e: e, sp: sp, since: e.Now()}
	r.res = Result{Secret: sp.Secret, Action: sp.Action, FromFP: sp.FromFP, ToFP: sp.ToFP, Note: sp.Note}
	switch {
	case sp.Action == ActionRotate:
		r.txn = e.NewID()
	case sp.Txn != nil:
		r.txn, r.phase = sp.Txn.ID, sp.Txn.Phase
	}
	r.res.Txn = r.txn
	for _, st := range sp.Steps {
		if err := r.timed(ctx, st, func() error { return r.do(ctx, st) }); err != nil {
			r.fail(ctx, st, err)
			return r.res
		}
	}
	if r.res.Outcome == "" {
		r.res.Outcome = outcomeOf(sp.Action)
	}
	return r.res
}

func outcomeOf(a Action) Outcome {
	switch a {
	case ActionRotate:
		return OutcomeRotated
	case ActionFinalize:
		return OutcomeFinalized
	case ActionRecover:
		return OutcomeRecovered
	case ActionWait:
		return OutcomeWaiting
	case ActionRefuse:
		return OutcomeRefused
	case ActionHold:
		return OutcomeHeld
	case ActionDrift:
		return OutcomeDrift
	case ActionDefer:
		return OutcomeDeferred
	}
	return OutcomeInSync
}

// Adopt records that a secret's sources already hold the desired value (SecretPlan.Adopt). It is not a
// transaction and changes nothing live.
func (e *Executor) Adopt(ctx context.Context, sp SecretPlan) error {
	rec := Record{Time: e.Now(), Secret: sp.Secret, Revision: sp.Revision, Type: RecordSynced, ToFP: sp.ToFP}
	if err := e.Journal.Record(ctx, rec); err != nil {
		return fmt.Errorf("failed to write the journal: %w", err)
	}
	return nil
}

// timed runs f for step st, reporting progress and keeping the step's result.
func (r *run) timed(ctx context.Context, st Step, f func() error) error {
	start := r.e.Now()
	r.emit(Event{Step: st.String(), Status: "start"})
	err := ctx.Err()
	if err == nil {
		err = f()
	}
	el := r.e.Now().Sub(start)
	sr := StepResult{Step: st.String(), Elapsed: el}
	ev := Event{Step: st.String(), Status: "ok", Elapsed: el}
	if err != nil {
		sr.Err, ev.Status, ev.Err = r.text(err), "failed", r.text(err)
	}
	r.res.Steps = append(r.res.Steps, sr)
	r.emit(ev)
	return err
}

// text is an error as it may be shown and journaled: with every known secret value removed, including
// the ones this run read back from the stash.
func (r *run) text(err error) string {
	s := err.Error()
	if r.e.Redact != nil {
		s = r.e.Redact(s)
	}
	for _, v := range r.hidden {
		s = strings.ReplaceAll(s, v, "[redacted]")
		if len(v) > 32 { // tools that echo a value often cut it
			s = strings.ReplaceAll(s, v[:32], "[redacted]")
		}
	}
	return s
}

// hide adds a value read back from the stash to what text removes.
func (r *run) hide(v string) {
	if len(v) >= 4 {
		r.hidden = append(r.hidden, v)
	}
}

func (r *run) emit(ev Event) {
	if r.e.Progress == nil {
		return
	}
	ev.Time, ev.Secret, ev.Txn = r.e.Now(), r.sp.Secret, r.txn
	r.e.Progress(ev)
}

func (r *run) record(ctx context.Context, rec Record) error {
	rec.Time, rec.Txn, rec.Secret = r.e.Now(), r.txn, r.sp.Secret
	if rec.Revision == "" {
		rec.Revision = r.sp.Revision
	}
	if err := r.e.Journal.Record(ctx, rec); err != nil {
		return fmt.Errorf("failed to write the journal: %w", err)
	}
	return nil
}

// effect journals intent, runs the side effect, and journals its success.
func (r *run) effect(ctx context.Context, st Step, f func() error) error {
	intent := Record{Type: RecordIntent, Step: st.String()}
	if st.Kind == StepRoll {
		intent.Consumer, intent.Roll = st.Consumer, st.Roll
	}
	if err := r.record(ctx, intent); err != nil {
		return err
	}
	if err := f(); err != nil {
		return err
	}
	return r.record(ctx, Record{Type: RecordDone, Step: st.String()})
}

// undoEffect is effect for rollbacks: a rollback moves back towards a state the journal already
// describes, so it goes ahead even when the journal cannot record it (a full disk must not strand a
// half-applied rotation).
func (r *run) undoEffect(ctx context.Context, st Step, f func() error) error {
	intent := Record{Type: RecordIntent, Step: st.String()}
	if st.Kind == StepRoll {
		intent.Consumer, intent.Roll = st.Consumer, st.Roll
	}
	_ = r.record(ctx, intent)
	if err := f(); err != nil {
		return err
	}
	_ = r.record(ctx, Record{Type: RecordDone, Step: st.String()})
	return nil
}

// enter records a phase change before the side effects of that phase, during a rotation only.
func (r *run) enter(ctx context.Context, p Phase) error {
	if r.sp.Action != ActionRotate || r.phase >= p {
		return nil
	}
	if err := r.record(ctx, Record{Type: RecordPhase, Phase: p}); err != nil {
		return err
	}
	r.phase = p
	return nil
}

// do runs one step. The steps every transaction shares run here; a credential server's steps are in
// server.go (dual-validity window), swap.go (no overlap) and pending.go (old values revoked by hand).
func (r *run) do(ctx context.Context, st Step) error {
	switch st.Kind {
	case StepBegin:
		return r.begin(ctx)
	case StepSnapshot:
		return r.takeSnapshot(ctx, st)
	case StepWrite:
		return r.write(ctx, st)
	case StepRoll:
		return r.roll(ctx, st)
	case StepHealth:
		return r.e.Health.WaitHealthy(ctx, st.Consumer)
	case StepVerify:
		return r.verify(st)(r.e.Verifier.Verify(ctx, *st.Check, Scope{Consumers: r.rolledNames(), Since: r.since}))
	case StepVerified:
		r.res.Outcome = OutcomeVerified
		if !r.stoppedAt.IsZero() {
			r.note(fmt.Sprintf("swap: consumers were stopped for %s", r.e.Now().Sub(r.stoppedAt).Round(10*time.Millisecond)))
		}
		if err := r.setPhase(ctx, PhaseVerified, st.After); err != nil {
			return err
		}
		return r.supersede(ctx)
	case StepFinalize:
		r.rolled = nil // from here on, a rollback only undoes the finalize
		return r.setPhase(ctx, PhaseFinalizing, time.Time{})
	case StepRestore:
		return r.effect(ctx, st, func() error { return r.restore(ctx) })
	case StepCommitted:
		r.res.Outcome = outcomeOf(r.sp.Action)
		return r.end(ctx, r.res.Outcome, "")
	case StepCheck, StepStage, StepLogin, StepDrain, StepRevoke, StepUnstage, StepProbe:
		return r.server(ctx, st)
	case StepStop:
		return r.stop(ctx, st)
	case StepSwap:
		return r.swap(ctx, st)
	}
	return fmt.Errorf("unknown step %q", st.Kind)
}

func (r *run) begin(ctx context.Context) error {
	if err := r.record(ctx, Record{Type: RecordBegin, FromFP: r.sp.FromFP, ToFP: r.sp.ToFP, Footprint: r.sp.Footprint}); err != nil {
		return err
	}
	r.phase = PhaseStarted
	return nil
}

// supersede ends the kept rotation this one replaces, once the new value is verified everywhere: until
// then, a rollback returns to the kept rotation and its window.
func (r *run) supersede(ctx context.Context) error {
	old := r.sp.Txn
	if r.sp.Action != ActionRotate || old == nil {
		return nil
	}
	rec := Record{Type: RecordEnd, Outcome: OutcomeSuperseded, Reason: "superseded by " + r.txn}
	rec.Time, rec.Txn, rec.Secret, rec.Revision = r.e.Now(), old.ID, r.sp.Secret, r.sp.Revision
	if err := r.e.Journal.Record(ctx, rec); err != nil {
		return fmt.Errorf("failed to write the journal: %w", err)
	}
	_ = r.e.Stash.Drop(ctx, old.ID)
	return nil
}

// end records the end of the transaction and forgets its stashed values.
func (r *run) end(ctx context.Context, outcome Outcome, reason string) error {
	if err := r.record(ctx, Record{Type: RecordEnd, Outcome: outcome, Reason: reason}); err != nil {
		return err
	}
	_ = r.e.Stash.Drop(ctx, r.txn) // best effort: the journal drops the stash of an ended transaction at its next Open
	return nil
}

func (r *run) setPhase(ctx context.Context, p Phase, after time.Time) error {
	if err := r.record(ctx, Record{Type: RecordPhase, Phase: p, FinalizeAfter: after}); err != nil {
		return err
	}
	r.phase = p
	return nil
}

func (r *run) write(ctx context.Context, st Step) error {
	if err := r.enter(ctx, PhaseWriting); err != nil {
		return err
	}
	v, err := r.value(ctx, st)
	if err != nil {
		return err
	}
	return r.effect(ctx, st, func() error { return r.writeTracked(ctx, st.Location, v) })
}

func (r *run) value(ctx context.Context, st Step) (string, error) {
	switch st.Value {
	case ValueDesired:
		v, ok := r.e.Values(r.sp.Secret)
		if !ok {
			return "", fmt.Errorf("secret %s has no desired value", r.sp.Secret)
		}
		return v, nil
	case ValueOldCurrent:
		return r.readPlain(ctx, st.From)
	case ValueEmpty:
		return "", nil
	case ValueLogin:
		if r.login == "" {
			return "", fmt.Errorf("the server did not say which login it staged the value on")
		}
		return r.login, nil
	}
	return "", fmt.Errorf("unknown value %q", st.Value)
}

func (r *run) roll(ctx context.Context, st Step) error {
	if err := r.enter(ctx, PhaseRolling); err != nil {
		return err
	}
	if err := r.ensureStaged(ctx); err != nil {
		return err
	}
	c := Consumer{Name: st.Consumer, Action: st.Roll, Strategy: st.Strategy} // the strategy plan showed
	r.rolled = append(r.rolled, c)
	if err := r.record(ctx, Record{Type: RecordIntent, Step: st.String(), Consumer: c.Name, Roll: c.Action}); err != nil {
		return err
	}
	if err := r.e.Roller.Roll(ctx, c); err != nil {
		return err
	}
	done := Record{Type: RecordDone, Step: st.String()}
	if cl, ok := r.e.Roller.(ContainerLister); ok {
		done.Containers, _ = cl.Containers(ctx, c.Name) // audit detail only: a failure to list is not a failed roll
	}
	return r.record(ctx, done)
}

func (r *run) rolledNames() []string {
	names := make([]string, len(r.rolled))
	for i, c := range r.rolled {
		names[i] = c.Name
	}
	return names
}

// fail records the failure and undoes what the plan changed, as far as the phase allows.
func (r *run) fail(ctx context.Context, st Step, cause error) {
	r.res.Reason = st.String() + ": " + r.text(cause)
	ctx, cancel := r.rollbackContext(ctx)
	defer cancel()
	switch st.Kind {
	case StepCheck, StepBegin:
		// Nothing began and nothing changed (a failed check, or a begin the journal did not take): no
		// transaction to record or undo, so nothing to call rolled back.
		r.res.Outcome = OutcomeBlocked
		return
	case StepProbe:
		// Could not tell (the provider is unreachable): still pending; the next run probes again.
		r.res.Outcome = OutcomePending
		return
	}
	_ = r.record(ctx, Record{Type: RecordFailed, Step: st.String(), Reason: r.res.Reason})
	switch {
	case r.sp.Action == ActionRotate && r.phase < PhaseVerified:
		r.undo(ctx, OutcomeRolledBack, r.phase >= PhaseWriting)
	case r.phase == PhaseFinalizing && r.sp.Server != "":
		// The new value is verified everywhere and may be the only one the server accepts: going back is
		// not safe. The transaction stays open; the next run drains, revokes and rolls again.
		r.res.Outcome = OutcomeFinalizeFailed
	case r.phase == PhaseFinalizing:
		r.undoFinalize(ctx)
	case r.phase == PhaseVerified && r.sp.Kind == KindAppKey:
		// Failed before dropping anything (the finalize snapshot): the verified state stands.
		r.res.Outcome = OutcomeFinalizeFailed
	default:
		// A failed recovery or a failed journal write: leave the transaction open so the next run retries.
		r.res.Outcome = OutcomeFailed
	}
}

func (r *run) rollbackContext(ctx context.Context) (context.Context, context.CancelFunc) {
	d := r.e.RollbackTimeout
	if d == 0 {
		d = 5 * time.Minute
	}
	return context.WithTimeout(context.WithoutCancel(ctx), d)
}

// undo restores the snapshot, re-rolls what was rolled, and ends the transaction with outcome.
func (r *run) undo(ctx context.Context, outcome Outcome, restore bool) {
	if err := r.revert(ctx, restore); err != nil {
		r.res.Outcome = OutcomeFailed
		r.res.Reason += "; rollback failed: " + err.Error()
		return
	}
	r.res.Outcome = outcome
	if err := r.end(ctx, outcome, r.res.Reason); err != nil {
		r.res.Reason += "; " + err.Error()
	}
}

func (r *run) undoFinalize(ctx context.Context) {
	if err := r.revert(ctx, true); err != nil {
		r.res.Outcome = OutcomeFailed
		r.res.Reason += "; restoring the previous value failed: " + err.Error()
		return
	}
	r.res.Outcome = OutcomeFinalizeFailed
	// Back to verified: the previous value is in place again and the next run may try to drop it again.
	if err := r.setPhase(ctx, PhaseVerified, time.Time{}); err != nil {
		r.res.Reason += "; " + err.Error()
	}
}

func (r *run) revert(ctx context.Context, restore bool) error {
	if restore {
		st := Step{Kind: StepRestore}
		if err := r.timed(ctx, st, func() error { return r.undoEffect(ctx, st, func() error { return r.restore(ctx) }) }); err != nil {
			return err
		}
	}
	if r.staged && r.sp.Swap {
		return r.revertSwap(ctx)
	}
	// Undo in reverse order, mirroring the rollout: the consumers rolled first (the ones that accept
	// both values) go back last, so no consumer meets a peer that rejects its value.
	var errs []error
	done := map[string]bool{}
	for i := len(r.rolled) - 1; i >= 0; i-- {
		if c := r.rolled[i]; !done[c.Name] { // a swap stopped it, then rolled it: once is enough
			done[c.Name] = true
			if err := r.reroll(ctx, c); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		// A consumer may still hold the new value: the server keeps accepting both.
		return errors.Join(errs...)
	}
	if r.staged {
		st := Step{Kind: StepUnstage, Server: r.sp.Server, From: r.sp.Current}
		return r.timed(ctx, st, func() error {
			return r.undoEffect(ctx, st, func() error { return r.retrying(ctx, func() error { return r.unstageHealing(ctx, st) }) })
		})
	}
	return nil
}

// reroll rolls a consumer back onto the restored values and waits for it to be healthy. Both steps are
// retried while the runtime says it is away (an engine restarting), within the rollback budget.
func (r *run) reroll(ctx context.Context, c Consumer) error {
	roll := Step{Kind: StepRoll, Consumer: c.Name, Roll: c.Action}
	err := r.timed(ctx, roll, func() error {
		return r.undoEffect(ctx, roll, func() error { return r.retrying(ctx, func() error { return r.e.Roller.Roll(ctx, c) }) })
	})
	if err != nil {
		return err
	}
	health := Step{Kind: StepHealth, Consumer: c.Name}
	return r.timed(ctx, health, func() error { return r.retrying(ctx, func() error { return r.e.Health.WaitHealthy(ctx, c.Name) }) })
}
