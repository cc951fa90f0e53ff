package reconcile

import (
	"fmt"
	"slices"
	"strings"
)

// Incident is another secret's open transaction, as a check of this secret's rotation may meet it: a
// consumer of both secrets logging the other secret's failure (a Redis password the server no longer
// accepts) says nothing about this rotation. A secret's rotations are isolated from the others' by it:
// a logs check whose deny pattern an incident on the same consumer explains is not held against the
// rotation, and any other failing check names the incident that may explain it.
type Incident struct {
	Secret    string
	Txn       string
	Phase     Phase
	Consumers []string // the secret's consumers and its server's own service
}

func (i Incident) String() string {
	return fmt.Sprintf("secret %s's open transaction %s (%s)", i.Secret, i.Txn, i.Phase)
}

// incidents lists the secrets whose open transaction is an incident at now: every open transaction
// but one waiting out its keep_previous window, which is a rotation going as planned.
func incidents(d Desired, o Observed) []Incident {
	var out []Incident
	for _, s := range d.Secrets {
		t := o.Secrets[s.Name].Txn
		if t == nil || t.Phase == PhaseVerified && o.Now.Before(t.FinalizeAfter) {
			continue
		}
		inc := Incident{Secret: s.Name, Txn: t.ID, Phase: t.Phase}
		for _, c := range s.Consumers {
			inc.Consumers = append(inc.Consumers, c.Name)
		}
		if s.Server != nil && s.Server.Service != "" {
			inc.Consumers = append(inc.Consumers, s.Server.Service)
		}
		out = append(out, inc)
	}
	return append(out, orphanIncidents(d, o)...)
}

// withIncidents gives each plan the incidents of the other secrets.
func withIncidents(p Plan, incs []Incident) Plan {
	for i := range p.Secrets {
		p.Secrets[i].Incidents = nil
		for _, inc := range incs {
			if inc.Secret != p.Secrets[i].Secret {
				p.Secrets[i].Incidents = append(p.Secrets[i].Incidents, inc)
			}
		}
	}
	return p
}

// explaining returns the incidents of other secrets on any of the consumers a check looked at.
func (r *run) explaining(st Step) []Incident {
	looked := r.rolledNames()
	if st.Consumer != "" {
		looked = append(looked, st.Consumer)
	}
	if st.Check != nil && st.Check.Service != "" {
		looked = []string{st.Check.Service}
	}
	var out []Incident
	for _, inc := range r.sp.Incidents {
		for _, c := range looked {
			if slices.Contains(inc.Consumers, c) {
				out = append(out, inc)
				break
			}
		}
	}
	return out
}

// verify runs a check. When it fails and another secret's incident touches the consumers it looked at, a
// logs check is excused (its deny pattern cannot say whose failure it logs: the incident explains it) and
// any other check's error names the incident.
func (r *run) verify(st Step) func(error) error {
	return func(err error) error {
		if err == nil {
			return nil
		}
		incs := r.explaining(st)
		if len(incs) == 0 {
			return err
		}
		names := make([]string, len(incs))
		for i, inc := range incs {
			names[i] = inc.String()
		}
		why := strings.Join(names, ", ")
		if st.Check.Kind != CheckLogs {
			return fmt.Errorf("%w (%s on the same consumer may explain it)", err, why)
		}
		note := fmt.Sprintf("%s: %s; not held against this rotation: explained by %s", st, r.text(err), why)
		r.note(note)
		return nil
	}
}

// finishFirstNote says why a new commit of a secret waits: its previous transaction is past verified
// and its new value may be the only one the server accepts, so it is finished (the old value revoked)
// before the next rotation starts from it; rolling it back is no longer safe. Until it finishes, the new
// commit waits, and only this secret does.
func finishFirstNote(t *Txn) string {
	return "finishes " + t.ID + " first (" + t.ToFP + " is live); Git's new value rotates once it has"
}
