package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rekeyhq/rekey/app"
	"github.com/rekeyhq/rekey/gitsync"
	"github.com/rekeyhq/rekey/reconcile"
)

func planCmd(e env) *cobra.Command {
	var o options
	return withOptions(&cobra.Command{
		Use:   "plan",
		Short: "Show what apply would do, with fingerprints",
		Long: `Plan reads the desired state (rekey.yaml and the encrypted values at --ref), compares it with the live
stack and prints, for every secret, what apply would do: its consumers in restart order, the steps of
the rotation, and the fingerprints of the live and desired values. It changes nothing.`,
		Example: `  rekey plan --repo /srv/stack-secrets --age-key-file /etc/rekey/age.key
  rekey plan --repo . --output json | jq '.secrets[] | select(.action != "in-sync")'`,
		Args: noArgs,
	}, &o, func(ctx context.Context, _ []string) error { return runPlan(ctx, &o, e) })
}

func runPlan(ctx context.Context, o *options, e env) error {
	s, p, err := app.Plan(ctx, o.app(e))
	if err != nil {
		return err
	}
	if o.json() {
		return writeJSON(e.stdout, planJSON(s, p))
	}
	printPlan(e.stdout, s, p)
	return nil
}

func printPlan(w io.Writer, s *app.Session, p reconcile.Plan) {
	fmt.Fprintf(w, "desired state: %s at %s (%s)\n", s.Options.Repo, gitsync.Short(s.Commit.Hash), gitsync.Subject(s.Commit.Message))
	fmt.Fprintf(w, "compose project: %s in %s\n\n", s.Project.Name(), s.Project.Dir())
	for i, sp := range p.Secrets {
		fmt.Fprintln(w, strings.SplitN(reconcile.Plan{Secrets: []reconcile.SecretPlan{sp}}.String(), "\n", 2)[0])
		if sec, ok := declaredSecret(s, p, i); ok {
			fmt.Fprintf(w, "  consumers, in roll order: %s\n", consumerList(sec.Consumers))
			printForms(w, sp.Forms)
			for _, n := range app.PlanNotes(sec) {
				fmt.Fprintf(w, "  %s\n", n)
			}
		} // an orphan: its header's note says what apply does with it, from the journal
		for j, st := range sp.Steps {
			fmt.Fprintf(w, "  %d. %s\n", j+1, st)
		}
		fmt.Fprintln(w)
	}
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
	Secret    string                `json:"secret"`
	Kind      reconcile.Kind        `json:"kind"`
	Action    reconcile.Action      `json:"action"`
	FromFP    string                `json:"from_fp,omitempty"`
	ToFP      string                `json:"to_fp"`
	Note      string                `json:"note,omitempty"`
	Consumers []reconcile.Consumer  `json:"consumers"`
	Server    *reconcile.Server     `json:"server,omitempty"`
	Notes     []string              `json:"notes,omitempty"`
	Steps     []string              `json:"steps"`
	Forms     []reconcile.FormState `json:"derived,omitempty"`
	Orphan    bool                  `json:"orphan,omitempty"` // no longer in rekey.yaml; finished or rolled back from the journal
}

func planJSON(s *app.Session, p reconcile.Plan) planOut {
	out := planOut{Revision: s.Commit.Hash, Project: s.Project.Name()}
	for i, sp := range p.Secrets {
		steps := make([]string, len(sp.Steps))
		for j, st := range sp.Steps {
			steps[j] = st.String()
		}
		out.Secrets = append(out.Secrets, secretPlan{Secret: sp.Secret, Kind: sp.Kind, Action: sp.Action,
			FromFP: sp.FromFP, ToFP: sp.ToFP, Note: sp.Note, Steps: steps, Forms: sp.Forms, Orphan: sp.Orphan})
		if sec, ok := declaredSecret(s, p, i); ok {
			last := &out.Secrets[len(out.Secrets)-1]
			last.Consumers, last.Server, last.Notes = sec.Consumers, sec.Server, app.PlanNotes(sec)
		}
	}
	return out
}

// declaredSecret is the declaration behind the plan's i-th secret. The planner appends the orphans
// (secrets no longer in rekey.yaml whose transaction is still open) after the declared ones: they have
// none.
func declaredSecret(s *app.Session, p reconcile.Plan, i int) (reconcile.Secret, bool) {
	if p.Secrets[i].Orphan || i >= len(s.Desired.Secrets) {
		return reconcile.Secret{}, false
	}
	return s.Desired.Secrets[i], true
}
