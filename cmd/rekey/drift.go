package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/rekeyhq/rekey/dockerio"
	"github.com/rekeyhq/rekey/journal"
	"github.com/rekeyhq/rekey/live"
	"github.com/rekeyhq/rekey/reconcile"
)

func cmdDrift(ctx context.Context, args []string, e env) error {
	var o options
	if err := o.parse(newFlagSet("drift", e.stderr, &o), args); err != nil {
		return err
	}
	s, err := load(ctx, &o, e)
	if err != nil {
		return err
	}
	recs, err := journalRecords(o.stateDir)
	if err != nil {
		return err
	}
	eng, err := dockerio.New(ctx, dockerio.WithHost(s.dockerHost()), dockerio.WithRedactor(s.redact.String))
	if err != nil {
		return err
	}
	defer eng.Close()
	drift, err := s.driftScanner(eng, recs).Scan(ctx, s.desired)
	if err != nil {
		return s.redact.Error(err)
	}
	for i := range drift { // reasons may quote an engine error
		drift[i].Reason = s.redact.String(drift[i].Reason)
	}
	if o.json() {
		err = writeJSON(e.stdout, driftOut{Revision: s.commit.Hash, Project: s.project.Name(), Places: drift})
	} else {
		printDrift(e.stdout, s, drift, time.Now())
	}
	if err != nil {
		return err
	}
	return driftExit(drift)
}

type driftOut struct {
	Revision string            `json:"revision"`
	Project  string            `json:"project"`
	Places   []reconcile.Drift `json:"places"`
}

// journalRecords copies the journal's records and releases it at once: a scan reads containers and files
// for a while, and must not keep `apply` or the agent waiting for the lock meanwhile.
func journalRecords(stateDir string) (live.Records, error) {
	j, err := journal.Open(stateDir)
	if err != nil {
		return nil, err
	}
	defer j.Close()
	all, err := j.All()
	if err != nil {
		return nil, err
	}
	return live.RecordsOf(all), nil
}

// driftScanner reads the live values of the session's secrets through the engine.
func (s *session) driftScanner(eng *dockerio.Engine, j live.RecordReader) *live.DriftScanner {
	vars := map[string]string{}
	for name, spec := range s.cfg.Secrets {
		if spec.Env != nil {
			vars[name], _ = spec.Vars()
		}
	}
	return &live.DriftScanner{FP: s.fp.Of, Journal: j, Containers: eng, Project: s.project,
		Values: s.values, Vars: vars}
}

func printDrift(w io.Writer, s *session, ds []reconcile.Drift, now time.Time) {
	fmt.Fprintf(w, "desired state at %s; compose project %s\n", short(s.commit.Hash), s.project.Name())
	fmt.Fprintf(w, "%-18s %-9s %-44s %-15s %s\n", "SECRET", "PLACE", "NAME", "STATE", "DETAIL")
	for _, d := range ds {
		name := d.Name
		if d.Container != "" {
			name += " (" + d.Container + ")"
		}
		detail := d.Reason
		if !d.Since.IsZero() {
			detail = fmt.Sprintf("for %s (started %s); %s", now.Sub(d.Since).Round(time.Second),
				d.Since.UTC().Format(time.RFC3339), d.Reason)
		}
		fmt.Fprintf(w, "%-18s %-9s %-44s %-15s %s\n", d.Secret, d.Place, name, d.State, detail)
	}
}

// driftExit is 0 when everything is in sync or pending, exitDrift when any place drifted, exitUnknown
// when some could not be read and none drifted.
func driftExit(ds []reconcile.Drift) error {
	drifted, unknown := 0, 0
	for _, d := range ds {
		switch {
		case d.State.Drifted():
			drifted++
		case d.State == reconcile.DriftUnknown:
			unknown++
		}
	}
	switch {
	case drifted > 0:
		return &codeError{code: exitDrift, msg: fmt.Sprintf("%d place(s) drifted from Git: commit the live value to keep it, or run rekey apply --heal to restore Git's", drifted)}
	case unknown > 0:
		return &codeError{code: exitUnknown, msg: fmt.Sprintf("%d place(s) could not be checked (see DETAIL)", unknown)}
	}
	return nil
}
