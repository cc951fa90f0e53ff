package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/rekeyhq/rekey/gitsync"
	"github.com/rekeyhq/rekey/journal"
)

// guard refuses a desired state that should not be trusted: a commit that does not descend from the last
// applied one (rewritten history, a force-push to an old state), or one without a trusted signature when
// commit verification is on. It fails closed: a journal it cannot read is a refusal too.
func (s *session) guard(j *journal.Journal) error {
	applied, err := j.Applied()
	if err != nil {
		return fmt.Errorf("failed to read the last applied commit from the journal (refusing to go on): %w", err)
	}
	head := s.commit.Hash
	descends := true
	if applied != "" && applied != head {
		ok, err := s.repo.IsAncestor(applied, head)
		if err != nil && !errors.Is(err, gitsync.ErrNotFound) {
			return err
		}
		descends = ok
	}
	if !descends && !s.o.allowRewrite {
		return refused("commit %s does not descend from %s, the last applied commit (history rewritten or force-pushed?); check the repository, then rerun with --allow-rewrite to accept it",
			short(head), short(applied))
	}
	if s.o.verifyCommits == "" {
		return nil
	}
	trust, err := s.o.trustedKeys()
	if err != nil {
		return err
	}
	if s.o.verifyCommits == "strict" && descends {
		_, err = s.repo.VerifyRange(applied, head, trust)
	} else { // head mode, or an accepted rewrite: there is no range from the applied commit
		_, err = s.repo.VerifyCommit(head, trust)
	}
	switch {
	case errors.Is(err, gitsync.ErrUnsigned), errors.Is(err, gitsync.ErrUntrusted), errors.Is(err, gitsync.ErrBadSignature):
		return refused("%v; the last applied state stays in place", err)
	case err != nil:
		return fmt.Errorf("failed to verify commits (check --trust-ssh / --trust-openpgp): %w", err)
	}
	return nil
}

func refused(format string, args ...any) error {
	return &codeError{code: exitRefused, msg: "refused: " + fmt.Sprintf(format, args...)}
}

// trustedKeys reads the trust files named on the command line.
func (o *options) trustedKeys() (gitsync.TrustedKeys, error) {
	var t gitsync.TrustedKeys
	if o.trustOpenPGP != "" {
		data, err := os.ReadFile(o.trustOpenPGP)
		if err != nil {
			return t, fmt.Errorf("failed to read --trust-openpgp: %w", err)
		}
		t.OpenPGP = []string{string(data)}
	}
	if o.trustSSH != "" {
		data, err := os.ReadFile(o.trustSSH)
		if err != nil {
			return t, fmt.Errorf("failed to read --trust-ssh: %w", err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				t.SSH = append(t.SSH, line)
			}
		}
	}
	return t, nil
}
