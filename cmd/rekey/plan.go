package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rekeyhq/rekey/journal"
	"github.com/rekeyhq/rekey/live"
	"github.com/rekeyhq/rekey/reconcile"
)

func cmdPlan(ctx context.Context, args []string, e env) error {
	var o options
	if err := o.parse(newFlagSet("plan", e.stderr, &o), args); err != nil {
		return err
	}
	s, j, observed, err := observe(ctx, &o, e)
	if err != nil {
		return err
	}
	defer j.Close()
	if err := s.guard(j); err != nil {
		return err // apply would refuse this commit: say so here too
	}
	s.desired.Retry = true // what `rekey apply` would do
	p := reconcile.MakePlan(s.desired, observed)
	if o.json() {
		return writeJSON(e.stdout, planJSON(s, p))
	}
	printPlan(e.stdout, s, p)
	return nil
}

// observe loads the desired state and reads what is live, for the commands that only look.
func observe(ctx context.Context, o *options, e env) (*session, *journal.Journal, reconcile.Observed, error) {
	s, err := load(ctx, o, e)
	if err != nil {
		return nil, nil, reconcile.Observed{}, err
	}
	j, err := journal.Open(o.stateDir)
	if err != nil {
		return nil, nil, reconcile.Observed{}, err
	}
	obs := &live.Observer{FP: s.fp.Of, Journal: j, Now: time.Now}
	observed, err := obs.Observe(ctx, s.desired)
	if err != nil {
		j.Close()
		return nil, nil, reconcile.Observed{}, s.redact.Error(err)
	}
	return s, j, observed, nil
}

func printPlan(w io.Writer, s *session, p reconcile.Plan) {
	fmt.Fprintf(w, "desired state: %s at %s (%s)\n", s.o.repo, short(s.commit.Hash), firstLine(s.commit.Message))
	fmt.Fprintf(w, "compose project: %s in %s\n\n", s.project.Name(), s.project.Dir())
	for i, sp := range p.Secrets {
		sec := s.desired.Secrets[i]
		fmt.Fprintln(w, strings.SplitN(reconcile.Plan{Secrets: []reconcile.SecretPlan{sp}}.String(), "\n", 2)[0])
		fmt.Fprintf(w, "  consumers, in roll order: %s\n", consumerList(sec.Consumers))
		for _, n := range planNotes(sec) {
			fmt.Fprintf(w, "  %s\n", n)
		}
		for j, st := range sp.Steps {
			fmt.Fprintf(w, "  %d. %s\n", j+1, st)
		}
		fmt.Fprintln(w)
	}
}

// planNotes explain what the steps do not show: the server's mechanism, and services left alone.
func planNotes(sec reconcile.Secret) []string {
	var notes []string
	if srv := sec.Server; srv != nil {
		n := fmt.Sprintf("server %s: %s", srv.Name, srv.Mechanism)
		if srv.Service != "" && srv.Roll != reconcile.NoRoll {
			n += fmt.Sprintf("; %s reads the value too and is rolled after the revoke, when it holds only the new one", srv.Service)
		}
		notes = append(notes, n)
	}
	for _, c := range sec.Consumers {
		for _, v := range c.Via {
			if keys, ok := strings.CutPrefix(v, "bootstrap-only:"); ok {
				notes = append(notes, fmt.Sprintf("%s reads it as %s only when its data directory is created: the source is kept in sync, %s is not recreated for it (that would not change the database's password)", c.Name, keys, c.Name))
			}
		}
	}
	return notes
}

func consumerList(cs []reconcile.Consumer) string {
	if len(cs) == 0 {
		return "(none)"
	}
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = fmt.Sprintf("%s [%s; %s]", c.Name, c.Action, strings.Join(c.Via, ", "))
	}
	return strings.Join(parts, " → ")
}

type planOut struct {
	Revision string       `json:"revision"`
	Project  string       `json:"project"`
	Secrets  []secretPlan `json:"secrets"`
}

type secretPlan struct {
	Secret    string               `json:"secret"`
	Kind      reconcile.Kind       `json:"kind"`
	Action    reconcile.Action     `json:"action"`
	FromFP    string               `json:"from_fp,omitempty"`
	ToFP      string               `json:"to_fp"`
	Note      string               `json:"note,omitempty"`
	Consumers []reconcile.Consumer `json:"consumers"`
	Server    *reconcile.Server    `json:"server,omitempty"`
	Notes     []string             `json:"notes,omitempty"`
	Steps     []string             `json:"steps"`
}

func planJSON(s *session, p reconcile.Plan) planOut {
	out := planOut{Revision: s.commit.Hash, Project: s.project.Name()}
	for i, sp := range p.Secrets {
		steps := make([]string, len(sp.Steps))
		for j, st := range sp.Steps {
			steps[j] = st.String()
		}
		out.Secrets = append(out.Secrets, secretPlan{Secret: sp.Secret, Kind: sp.Kind, Action: sp.Action,
			FromFP: sp.FromFP, ToFP: sp.ToFP, Note: sp.Note, Consumers: s.desired.Secrets[i].Consumers,
			Server: s.desired.Secrets[i].Server, Notes: planNotes(s.desired.Secrets[i]), Steps: steps})
	}
	return out
}

func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12]
	}
	return hash
}

func firstLine(s string) string {
	return strings.TrimSpace(strings.SplitN(s, "\n", 2)[0])
}
