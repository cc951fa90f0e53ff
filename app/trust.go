package app

import (
	"errors"
	"fmt"

	"github.com/rekeyhq/rekey/gitsync"
	"github.com/rekeyhq/rekey/journal"
)

// guard refuses a desired state that should not be trusted: a commit that does not descend from the last
// applied one (rewritten history, a force-push to an old state), or one without a trusted signature when
// commit verification is on. It fails closed: a journal it cannot read is a refusal too. It reads only
// the repository's history and signatures: nothing the commit's tree names.
func (s *Session) guard(j *journal.Journal) error {
	applied, err := j.Applied()
	if err != nil {
		return fmt.Errorf("failed to read the last applied commit from the journal (refusing to go on): %w", err)
	}
	head := s.Commit.Hash
	descends := true
	if applied != "" && applied != head {
		ok, err := s.Repo.IsAncestor(applied, head)
		if err != nil && !errors.Is(err, gitsync.ErrNotFound) {
			return err
		}
		descends = ok
	}
	o := s.Options
	if !descends && !o.AllowRewrite {
		return refused("commit %s does not descend from %s, the last applied commit (history rewritten or force-pushed?); check the repository, then rerun with --allow-rewrite to accept it",
			gitsync.Short(head), gitsync.Short(applied))
	}
	if o.VerifyCommits == "" {
		return nil
	}
	trust, err := o.TrustedKeys()
	if err != nil {
		return err
	}
	if o.VerifyCommits == "strict" && descends {
		_, err = s.Repo.VerifyRange(applied, head, trust)
	} else { // head mode, or an accepted rewrite: there is no range from the applied commit
		_, err = s.Repo.VerifyCommit(head, trust)
	}
	switch {
	case errors.Is(err, gitsync.ErrUnsigned), errors.Is(err, gitsync.ErrUntrusted), errors.Is(err, gitsync.ErrBadSignature):
		return &RefusedError{Reason: fmt.Sprintf("%v; the last applied state stays in place", err), Err: err}
	case err != nil:
		return fmt.Errorf("failed to verify commits (check --trust-ssh / --trust-openpgp): %w", err)
	}
	return nil
}
