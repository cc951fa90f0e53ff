package reconcile

import (
	"fmt"
	"strings"
	"time"
)

// An orphan is a secret that is no longer declared (renamed or removed from rekey.yaml) while the journal
// holds its transaction open: a kill -9, a rollback that failed, or a keep_previous window when the
// commit that renamed it landed. Its begin record says what it touches (Footprint), so it is handled like a
// declared secret's interrupted transaction, from the journal alone: before verified it is rolled back
// (the snapshot put back, what it rolled re-rolled, the server unstaged); from verified on it is finished
// (the previous value dropped once its window is over, or the old value revoked on the server). Nothing is
// rotated for it: there is no desired value. Other secrets that share a file, a consumer or the server
// with it wait (ActionDefer) until it has ended, so that its rollback never puts back a file another
// transaction changed since, nor re-rolls a consumer under another rotation; the others go ahead.
//
// Held, loud (outcome failed, its reason the next step): an orphan whose remaining steps need its
// credential server when no declared secret names that server any more, since rekey then has no driver
// for it. A transaction begun by an older rekey (no footprint) is refused by the caller before any plan:
// what it touched is unknown.

// orphanTxn is an orphan's open transaction.
type orphanTxn struct {
	secret string
	txn    *Txn
}

// openOrphans are the orphans whose transaction is still open, in the order of Desired.Orphans.
func openOrphans(d Desired, o Observed) []orphanTxn {
	var out []orphanTxn
	for _, name := range d.Orphans {
		if t := o.Secrets[name].Txn; t != nil {
			out = append(out, orphanTxn{secret: name, txn: t})
		}
	}
	return out
}

// withOrphans defers the declared secrets that overlap an open orphan and adds a plan per orphan.
func withOrphans(p Plan, d Desired, o Observed) Plan {
	open := openOrphans(d, o)
	if len(open) == 0 {
		return p
	}
	for i := range p.Secrets {
		p.Secrets[i] = deferOverlapping(p.Secrets[i], d.Secrets[i], open)
	}
	drivable := map[string]bool{}
	for _, s := range d.Secrets {
		if s.Server != nil {
			drivable[s.Server.Name] = true
		}
	}
	for _, ot := range open {
		sp := planOrphan(ot.secret, ot.txn, o.Now, drivable)
		sp.Revision = d.Revision
		p.Secrets = append(p.Secrets, sp)
	}
	return p
}

// deferOverlapping makes a plan that would change something wait for the first open orphan it overlaps.
func deferOverlapping(sp SecretPlan, s Secret, open []orphanTxn) SecretPlan {
	if len(sp.Steps) == 0 && !sp.Adopt {
		// Nothing to change: nothing to collide with. A value found in sync is not adopted meanwhile: it may
		// be the orphan's new value, which its rollback is about to take back (a drift, if adopted).
		return sp
	}
	for _, ot := range open {
		shared := ""
		// A kept rotation (verified, keeping its previous value) opens again when the one superseding it
		// rolls back, and finishes from its own footprint: what it touches counts too.
		for k := ot.txn; k != nil && shared == ""; k = k.Kept {
			shared = k.Footprint.sharedWith(s)
		}
		if shared == "" {
			continue
		}
		return SecretPlan{Secret: sp.Secret, Kind: sp.Kind, Action: ActionDefer, FromFP: sp.FromFP, ToFP: sp.ToFP,
			Revision: sp.Revision, Forms: sp.Forms,
			Note: fmt.Sprintf("waits for transaction %s (%s) of %s, no longer declared, which shares %s with it: planned again once that one has ended",
				ot.txn.ID, ot.txn.Phase, ot.secret, shared)}
	}
	return sp
}

// planOrphan finishes or rolls back an orphan's transaction from its footprint, or holds it when its server
// has no driver.
func planOrphan(name string, t *Txn, now time.Time, drivable map[string]bool) SecretPlan {
	sc := t.Footprint
	if sc == nil { // the caller refuses these; a kept transaction handed back by a rollback may be one
		return SecretPlan{Secret: name, Action: ActionHold, Txn: t, Orphan: true,
			Note: fmt.Sprintf("secret %s has an unfinished transaction %s (%s) but is no longer in rekey.yaml, and the journal does not record what it touches (begun by an older rekey). Next: put its declaration back, run `rekey apply` to finish it, then remove it",
				name, t.ID, t.Phase)}
	}
	sp := SecretPlan{Secret: name, Kind: sc.Kind, Orphan: true}
	s := sc.secret(name)
	if s.Server != nil && len(s.Current) > 0 {
		sp.Server, sp.Current, sp.Swap = s.Server.Name, s.Current[0], s.Swap
		for _, c := range s.Consumers {
			sp.order = append(sp.order, c.Name)
		}
	}
	if srv := s.Server; srv != nil && !drivable[srv.Name] && needsServer(s, t) {
		sp.Action, sp.Txn = ActionHold, t
		sp.Note = fmt.Sprintf("secret %s is no longer in rekey.yaml and its transaction %s (%s, %s → %s) still needs credential server %s, which no declared secret names now: rekey has no driver to %s it. Next: declare a secret on server %s again (the old declaration of %s is enough), run `rekey apply` to finish the transaction, then remove it",
			name, t.ID, t.Phase, orNone(t.FromFP), t.ToFP, srv.Name, orphanVerb(t), srv.Name, name)
		return sp
	}
	switch {
	case t.Phase < PhaseVerified:
		sp = planRecover(sp, s, t)
	case t.Phase == PhaseVerified && now.Before(t.FinalizeAfter):
		sp.Action, sp.Txn = ActionWait, t
		sp.Note = "previous value kept until " + t.FinalizeAfter.UTC().Format(time.RFC3339)
	case t.Phase == PhaseFinalizing:
		sp = planFinalize(sp, s, t, false)
	default:
		sp = planFinalize(sp, s, t, true)
	}
	note := fmt.Sprintf("no longer in rekey.yaml: its transaction %s (%s → %s) is %s from the journal", t.ID, orNone(t.FromFP), t.ToFP, orphanDone(t))
	sp.Note = strings.TrimSuffix(note+"; "+sp.Note, "; ")
	return sp
}

// needsServer says whether what is left of t calls its credential server: an unstage before verified
// (something may have been staged), a drain and revoke after (a swap is already switched over by then).
func needsServer(s Secret, t *Txn) bool {
	if t.Phase < PhaseVerified {
		return t.Phase >= PhaseWriting
	}
	return !s.Swap
}

func orphanVerb(t *Txn) string {
	if t.Phase < PhaseVerified {
		return "unstage"
	}
	return "revoke the old value on"
}

func orphanDone(t *Txn) string {
	if t.Phase < PhaseVerified {
		return "rolled back"
	}
	return "finished"
}

// orphanIncidents are the open orphans as incidents: a check of another secret failing on a consumer
// an orphan touches may be explained by it.
func orphanIncidents(d Desired, o Observed) []Incident {
	var out []Incident
	for _, ot := range openOrphans(d, o) {
		inc := Incident{Secret: ot.secret, Txn: ot.txn.ID, Phase: ot.txn.Phase}
		if sc := ot.txn.Footprint; sc != nil {
			inc.Consumers = consumersOf(sc.Consumers, sc.Server)
		}
		out = append(out, inc)
	}
	return out
}
