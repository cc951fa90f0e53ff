package app

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/rekeyhq/rekey/gitsync"
	"github.com/rekeyhq/rekey/internal/generate"
	"github.com/rekeyhq/rekey/internal/redact"
	"github.com/rekeyhq/rekey/journal"
	"github.com/rekeyhq/rekey/reconcile"
	"github.com/rekeyhq/rekey/sopsio"
)

// WriteBack generates a new value for secret and commits it (pushing it for remotes) on top of the
// trusted commit at the ref; applying it is the caller's next step (Apply at the returned commit), so
// the old value can never come back with the next deploy.
func WriteBack(ctx context.Context, o Options, secret string, who gitsync.Author) (gitsync.Commit, error) {
	if err := CanWriteBack(o, who); err != nil {
		return gitsync.Commit{}, err
	}
	s, err := LoadTrusted(ctx, o)
	if err != nil {
		return gitsync.Commit{}, err
	}
	c, err := s.guardedWriteBack(ctx, secret, "on demand", who)
	return c, s.Redact.Error(err)
}

// RotateFirstDue writes back a new value for the first secret whose rotate_every has passed, and returns
// its name ("" when none is due) and the commit. The caller applies it before asking for the next one
// (each write-back commits on top of the previous).
func RotateFirstDue(ctx context.Context, o Options, who gitsync.Author) (string, gitsync.Commit, error) {
	s, err := LoadTrusted(ctx, o)
	if err != nil {
		return "", gitsync.Commit{}, err
	}
	var due []string
	err = s.withJournal(func(j *journal.Journal) (err error) {
		due, err = s.dueForRotation(ctx, j, time.Now())
		return err
	})
	if err != nil || len(due) == 0 {
		return "", gitsync.Commit{}, err
	}
	if err := CanWriteBack(s.Options, who); err != nil {
		return due[0], gitsync.Commit{}, fmt.Errorf("%s is due for rotation but nothing was committed: %w", due[0], err)
	}
	c, err := s.guardedWriteBack(ctx, due[0], "rotate_every", who)
	return due[0], c, s.Redact.Error(err)
}

// CanWriteBack refuses, before anything is committed, a write-back that commit verification would then
// refuse to apply.
func CanWriteBack(o Options, who gitsync.Author) error {
	o = o.normalized()
	if o.VerifyCommits == "" {
		return nil
	}
	if who.Signer == nil && who.OpenPGPKey == nil {
		return &OptionsError{"commit verification is on: pass --signing-key with a key listed in --trust-ssh or --trust-openpgp, or rekey's own write-back commits would be refused"}
	}
	trust, err := o.TrustedKeys()
	if err != nil {
		return err
	}
	err = who.CheckTrusted(trust)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gitsync.ErrUntrusted), errors.Is(err, gitsync.ErrUnsigned):
		return &OptionsError{"the --signing-key is not listed in --trust-ssh or --trust-openpgp: its write-back commits would be refused"}
	}
	return fmt.Errorf("failed to check the --signing-key against the trusted keys: %w", err)
}

// guardedWriteBack checks again that the loaded commit is trusted (never build on a state apply would
// refuse: the applied commit may have moved since the load), records the attempt, and writes back.
func (s *Session) guardedWriteBack(ctx context.Context, secret, why string, who gitsync.Author) (gitsync.Commit, error) {
	return s.guardedWriteBackWith(ctx, s.withJournal, secret, why, who)
}

// guardedWriteBackWith is guardedWriteBack reaching the journal through with: opened for each use, or
// the one the caller holds (the agent's scheduled rotations, inside its apply).
func (s *Session) guardedWriteBackWith(ctx context.Context, with func(func(*journal.Journal) error) error,
	secret, why string, who gitsync.Author) (gitsync.Commit, error) {
	if err := s.mayGenerate(secret); err != nil {
		return gitsync.Commit{}, err
	}
	if err := with(s.guard); err != nil {
		return gitsync.Commit{}, err
	}
	// Through withJournal, the journal is not held across the push: status, plan and apply stay usable
	// meanwhile. The agent holds it: its apply follows at once.
	c, err := s.writeBack(ctx, secret, why, who)
	if err != nil {
		return c, err
	}
	if err := with(func(j *journal.Journal) error { return j.MarkWriteBack(ctx, secret, time.Now()) }); err != nil {
		// The commit is out: apply it regardless; only the due-time bookkeeping is missing.
		s.Options.Warn("committed " + gitsync.Short(c.Hash) + " but could not record the write-back in the journal: " + err.Error())
	}
	return c, nil
}

// writeBack generates a new value for secret, encrypts the values file to the recipients it is encrypted
// to now (so everyone who could decrypt before still can) and commits it on top of the commit loaded.
// For remotes the commit is pushed; nothing is applied if that fails.
func (s *Session) writeBack(ctx context.Context, secret, why string, who gitsync.Author) (c gitsync.Commit, err error) {
	value, err := s.newValue(secret)
	if err != nil {
		return gitsync.Commit{}, err
	}
	// The session's redactor was built before this value existed: errors from here on hide it too.
	defer func() { err = redact.New(value).Error(err) }()
	recipients, err := s.readers()
	if err != nil {
		return gitsync.Commit{}, err
	}
	values := maps.Clone(s.values)
	values[secret] = value
	format := sopsio.FormatForPath(s.Config.Values)
	enc, err := sopsio.EncryptValues(values, format, recipients)
	if err != nil {
		return gitsync.Commit{}, err
	}
	branch := s.Options.Ref
	if branch == "" {
		if branch, err = s.Repo.Branch(); err != nil {
			return gitsync.Commit{}, err
		}
	}
	msg := fmt.Sprintf("rekey: rotate %s (%s)\n\nA new value (%s) generated by rekey. The old value is dropped once every\nconsumer verified the new one.\n", secret, why, s.FP.Of(value))
	c, err = s.Repo.Commit(ctx, branch, s.Commit.Hash, []gitsync.Change{{Path: s.Config.Values, Content: enc}}, msg, who)
	if err != nil {
		return gitsync.Commit{}, fmt.Errorf("failed to write the new value of %s back to %s (nothing was applied): %w", secret, branch, err)
	}
	return c, nil
}

// mayGenerate refuses, before anything is journaled or committed, a new value for a secret whose
// rotation class says rekey must not make one (issued elsewhere, or data-destroying).
func (s *Session) mayGenerate(secret string) error {
	spec, ok := s.Config.Secrets[secret]
	if !ok {
		return fmt.Errorf("secret %s is not declared in %s", secret, ConfigFile)
	}
	if msg := spec.RefuseRotation(secret); msg != "" {
		return &OptionsError{Msg: msg + "; nothing was committed"} // bad input: the usage exit code
	}
	return nil
}

// newValue generates a value the way the secret's generate: block says.
func (s *Session) newValue(secret string) (string, error) {
	spec, ok := s.Config.Secrets[secret]
	if !ok {
		return "", fmt.Errorf("secret %s is not declared in %s", secret, ConfigFile)
	}
	var length int
	var charset, tmpl string
	if g := spec.Generate; g != nil {
		length, charset, tmpl = g.Length, g.Charset, g.Format
	}
	random, err := generate.Value(length, charset)
	if err != nil || tmpl == "" {
		return random, err
	}
	return strings.Replace(tmpl, "{value}", random, 1), nil
}

// readers are the age recipients the values file is encrypted to now. A write-back re-encrypts every
// value, so it keeps exactly these: taking .sops.yaml instead would let anyone who can push add a
// recipient of their own and read every secret in the next write-back.
func (s *Session) readers() ([]string, error) {
	data, err := s.Repo.ReadFile(s.Commit.Hash, s.Config.Values)
	if err != nil {
		return nil, err
	}
	recipients, err := sopsio.FileRecipients(data, sopsio.FormatForPath(s.Config.Values))
	if err != nil {
		return nil, fmt.Errorf("failed to read the recipients of %s: %w", s.Config.Values, err)
	}
	rules, err := s.Repo.ReadFile(s.Commit.Hash, ".sops.yaml")
	if err == nil {
		if want, err := sopsio.RecipientsFor(rules, ".", s.Config.Values); err == nil && !sameSet(want, recipients) {
			s.Options.Warn("the recipients in .sops.yaml differ from those the values file is encrypted to; the write-back keeps the file's (re-encrypt with sops to change who can read it)")
		}
	}
	return recipients, nil
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]bool{}
	for _, x := range a {
		seen[x] = true
	}
	for _, x := range b {
		if !seen[x] {
			return false
		}
	}
	return true
}

// dueForRotation lists the secrets whose rotate_every has passed since rekey last wrote back or started a
// rotation of them (whatever the outcome: a value that failed is not regenerated in a loop) or, before any,
// since rekey first saw them.
func (s *Session) dueForRotation(ctx context.Context, j *journal.Journal, now time.Time) ([]string, error) {
	var due []string
	for _, name := range s.Config.Names() {
		every := s.Config.Secrets[name].RotateEvery.Duration
		if every == 0 || s.isSkipped(name) {
			continue // never rotated, or invalid: a value generated for it could not be applied
		}
		since, err := j.Since(ctx, name, now)
		if err != nil {
			return nil, err
		}
		h, err := j.History(name) // the last begin is the same without the folded revoked values
		if err != nil {
			return nil, err
		}
		recs := h.Records
		wb, err := j.LastWriteBack(name)
		if err != nil {
			return nil, err
		}
		if last := later(lastAttempt(recs), wb); !last.IsZero() {
			since = last
		}
		if now.Sub(since) >= every {
			due = append(due, name)
		}
	}
	return due, nil
}

func (s *Session) isSkipped(name string) bool {
	for _, sk := range s.Skipped {
		if sk.Name == name {
			return true
		}
	}
	return false
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func lastAttempt(recs []reconcile.Record) time.Time {
	var last time.Time
	for _, r := range recs {
		if r.Type == reconcile.RecordBegin {
			last = r.Time
		}
	}
	return last
}
