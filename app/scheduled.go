package app

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/rekeyhq/rekey/gitsync"
	"github.com/rekeyhq/rekey/journal"
	"github.com/rekeyhq/rekey/reconcile"
)

// Scheduled is one scheduled rotation's write-back: the commit, or why nothing was committed.
type Scheduled struct {
	Secret string
	Commit gitsync.Commit
	Err    error // redacted; the apply went on without this value
}

// maxScheduled bounds the write-backs of one run: one per due secret.
const maxScheduled = 16

// ApplyScheduled is the agent's run: Apply, with the scheduled rotations written back in between. With
// the journal held from the guard to the end of the apply, it commits a new value for each secret whose
// rotate_every has passed (each on top of the previous, the desired state loaded again at the new commit
// and guarded again), then applies once. The desired state is loaded once when nothing is due, and every
// rotation (scheduled or not) is attempted once, in one apply whose results say how it went. A failed
// write-back is reported in its Scheduled and the apply goes on with the desired state as it was.
func ApplyScheduled(ctx context.Context, o Options, who gitsync.Author) (*Session, []Scheduled, []reconcile.Result, error) {
	var done []Scheduled
	s, results, err := apply(ctx, o, func(s *Session, j *journal.Journal) (*Session, error) {
		var err error
		s, done, err = s.writeBackDue(ctx, j, who)
		return s, err
	})
	return s, done, results, err
}

// writeBackDue commits a new value for each due secret, and returns the session loaded at the last
// commit. The error is one that stops the run (the new commit could not be loaded or is refused).
func (s *Session) writeBackDue(ctx context.Context, j *journal.Journal, who gitsync.Author) (*Session, []Scheduled, error) {
	held := func(f func(*journal.Journal) error) error { return f(j) }
	var done []Scheduled
	written := map[string]bool{}
	for range maxScheduled {
		due, err := s.dueForRotation(ctx, j, time.Now())
		if err != nil {
			return s, append(done, Scheduled{Err: fmt.Errorf("failed to tell which secrets are due for rotation: %w", err)}), nil
		}
		// A secret written back in this run stays "due" when its write-back could not be recorded in
		// the journal: never commit it twice in one run.
		due = slices.DeleteFunc(due, func(secret string) bool { return written[secret] })
		if len(due) == 0 {
			return s, done, nil
		}
		if err := CanWriteBack(s.Options, who); err != nil {
			err = fmt.Errorf("%s is due for rotation but nothing was committed: %w", due[0], err)
			return s, append(done, Scheduled{Secret: due[0], Err: err}), nil
		}
		c, err := s.guardedWriteBackWith(ctx, held, due[0], "rotate_every", who)
		if err != nil {
			return s, append(done, Scheduled{Secret: due[0], Err: s.Redact.Error(err)}), nil
		}
		written[due[0]] = true
		done = append(done, Scheduled{Secret: due[0], Commit: c})
		if s, err = s.reload(ctx, j); err != nil {
			return nil, done, err
		}
	}
	return s, done, nil
}

// reload loads the desired state again at the ref, behind the guard, with the journal held.
func (s *Session) reload(ctx context.Context, j *journal.Journal) (*Session, error) {
	n, err := open(ctx, s.Options)
	if err != nil {
		return nil, err
	}
	if err := n.guard(j); err != nil {
		return nil, err
	}
	if err := n.read(ctx); err != nil {
		return nil, err
	}
	return n, nil
}

// journalOptions are the options every journal a use case writes through is opened with.
func (o Options) journalOptions() []journal.Option {
	var opts []journal.Option
	if o.KillAfter > 0 {
		opts = append(opts, journal.WithKillAfter(o.KillAfter))
	}
	switch {
	case o.JournalRetention > 0:
		opts = append(opts, journal.WithRetention(o.JournalRetention))
	case o.JournalRetention < 0:
		opts = append(opts, journal.WithRetention(0))
	}
	return opts
}
