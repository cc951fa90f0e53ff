package app

import (
	"context"

	"github.com/rekeyhq/rekey/dockerio"
	"github.com/rekeyhq/rekey/journal"
	"github.com/rekeyhq/rekey/live"
	"github.com/rekeyhq/rekey/reconcile"
)

// Drift compares every source, container and mounted file with the desired state. Reasons are redacted.
func Drift(ctx context.Context, o Options) (*Session, []reconcile.Drift, error) {
	s, err := LoadToLook(ctx, o)
	if err != nil {
		return nil, nil, err
	}
	recs, err := JournalRecords(s.Options.StateDir, s.Config.Names()...)
	if err != nil {
		return nil, nil, err
	}
	eng, err := dockerio.New(ctx, dockerio.WithHost(s.DockerHost()), dockerio.WithRedactor(s.Redact.String))
	if err != nil {
		return nil, nil, err
	}
	defer eng.Close()
	drift, err := s.ScanDrift(ctx, eng, recs, nil) // an operator's question: every server is asked
	return s, drift, err
}

// ScanDrift runs one drift scan through eng against the journal's records, reasons redacted. Each
// credential server is asked whether Git's value logs in, at most once per verdicts.Every (nil: every scan).
func (s *Session) ScanDrift(ctx context.Context, eng *dockerio.Engine, recs live.Records, verdicts *live.ServerVerdicts) ([]reconcile.Drift, error) {
	sc := s.DriftScanner(eng, recs)
	sc.Verdicts = verdicts
	if s.Config.IsSwarm() {
		defer s.scanSwarm(ctx, sc)()
	}
	// A driver that cannot be built (an admin password missing from the values) makes its servers unknown
	// rather than failing the scan of every other place.
	creds, err := s.driftCredentials(eng, sc)
	if err != nil {
		sc.ServersErr = err
	} else {
		sc.Servers = creds
	}
	drift, err := sc.Scan(ctx, s.Desired)
	if err != nil {
		return nil, s.Redact.Error(err)
	}
	for i := range drift { // reasons may quote an engine error
		drift[i].Reason = s.Redact.String(drift[i].Reason)
	}
	if s.Config.IsSwarm() {
		swarmReasons(drift)
	}
	return drift, nil
}

// DriftVerdict is OK when everything is in sync or pending, an OutcomeError with VerdictDrift when any
// place drifted, VerdictUnknown when some could not be read and none drifted.
func DriftVerdict(ds []reconcile.Drift) error {
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
		return outcome(VerdictDrift, "%d place(s) drifted from Git: commit the live value to keep it, or run rekey apply --heal to restore Git's", drifted)
	case unknown > 0:
		return outcome(VerdictUnknown, "%d place(s) could not be checked (see DETAIL)", unknown)
	}
	return nil
}

// JournalRecords copies the journal's records of secrets (of every secret it has records of when none is
// named) and releases it at once: a scan reads containers and files for a while, and must not keep `apply`
// or the agent waiting for the lock meanwhile. Each secret is read through the index, and its folded
// revoked values are left out (journal.History): a scan reads the last applied value and the open
// transaction, never whether a value was revoked, and a year of them would be most of the copy.
func JournalRecords(stateDir string, secrets ...string) (live.Records, error) {
	j, err := journal.Open(stateDir)
	if err != nil {
		return nil, err
	}
	defer j.Close()
	if len(secrets) == 0 {
		if secrets, err = j.Secrets(); err != nil {
			return nil, err
		}
	}
	out := live.Records{}
	for _, name := range secrets {
		h, err := j.History(name)
		if err != nil {
			return nil, err
		}
		if len(h.Records) > 0 {
			out[name] = h.Records
		}
	}
	return out, nil
}

// DriftScanner reads the live values of the session's secrets through the engine.
func (s *Session) DriftScanner(eng *dockerio.Engine, j live.RecordReader) *live.DriftScanner {
	vars := map[string]string{}
	for name, spec := range s.Config.Secrets {
		if spec.Env != nil {
			vars[name], _ = spec.Vars()
		}
	}
	return &live.DriftScanner{FP: s.FP.Of, Journal: j, Containers: eng, Project: s.Project,
		Values: s.values, Vars: vars, Forms: s.files(nil).Forms, NoConsumers: s.Config.IsSwarm()}
}
