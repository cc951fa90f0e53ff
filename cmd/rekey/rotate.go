package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/mail"
	"os"
	"strings"
	"time"

	"github.com/rekeyhq/rekey/gitsync"
	"github.com/rekeyhq/rekey/internal/generate"
	"github.com/rekeyhq/rekey/journal"
	"github.com/rekeyhq/rekey/reconcile"
	"github.com/rekeyhq/rekey/sopsio"
)

// cmdRotate generates a new value for a secret, commits it to the desired-state repository (pushing it
// for remotes) and only then applies it: the old value can never come back with the next deploy.
func cmdRotate(ctx context.Context, args []string, e env) error {
	var o options
	fs := newFlagSet("rotate", e.stderr, &o)
	author := fs.String("author", "rekey <rekey@localhost>", "author of the write-back commit")
	signingKey := fs.String("signing-key", "", "private key that signs the write-back commit: unencrypted OpenSSH, or armored OpenPGP without a passphrase (trust its public key with --trust-ssh or --trust-openpgp)")
	pos, err := o.parseArgs(fs, args, 1)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("rotate takes exactly one secret name")
	}
	secret := pos[0]
	who, err := parseAuthor(*author, *signingKey)
	if err != nil {
		return err
	}
	if err := o.canWriteBack(who); err != nil {
		return err
	}
	s, err := load(ctx, &o, e)
	if err != nil {
		return err
	}
	c, err := s.guardedWriteBack(ctx, secret, "on demand", who)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "committed %s: %s\n", short(c.Hash), firstLine(c.Message))
	next := o
	next.ref = c.Hash
	s2, results, err := applyOnce(ctx, &next, e)
	if s2 == nil {
		return err
	}
	printResults(e.stdout, results)
	if code := exitFor(results); code != exitOK {
		return &codeError{code: code, msg: errText(s2, err)}
	}
	return s2.redact.Error(err)
}

// canWriteBack refuses, before anything is committed, a write-back that commit verification would then
// refuse to apply.
func (o *options) canWriteBack(who gitsync.Author) error {
	if o.verifyCommits == "" {
		return nil
	}
	if who.Signer == nil && who.OpenPGPKey == nil {
		return usageError("commit verification is on: pass --signing-key with a key listed in --trust-ssh or --trust-openpgp, or rekey's own write-back commits would be refused")
	}
	trust, err := o.trustedKeys()
	if err != nil {
		return err
	}
	err = who.CheckTrusted(trust)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gitsync.ErrUntrusted), errors.Is(err, gitsync.ErrUnsigned):
		return usageError("the --signing-key is not listed in --trust-ssh or --trust-openpgp: its write-back commits would be refused")
	}
	return fmt.Errorf("failed to check the --signing-key against the trusted keys: %w", err)
}

// parseAuthor reads --author and, if given, the key that signs write-back commits: an unencrypted
// OpenSSH private key, or an armored OpenPGP private key (gpg --armor --export-secret-keys) without a
// passphrase. An agent that only accepts signed commits must be able to accept its own.
func parseAuthor(s, signingKey string) (gitsync.Author, error) {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return gitsync.Author{}, usageError("--author must look like 'Name <email>': %v", err)
	}
	who := gitsync.Author{Name: a.Name, Email: a.Address}
	if signingKey == "" {
		return who, nil
	}
	key, err := os.ReadFile(signingKey)
	if err != nil {
		return who, fmt.Errorf("failed to read --signing-key: %w", err)
	}
	if err := who.SetSigningKey(key); err != nil {
		return who, fmt.Errorf("failed to use --signing-key %s: %w", signingKey, err)
	}
	return who, nil
}

// guardedWriteBack checks that the loaded commit is trusted (never build on a state apply would refuse),
// records the attempt, and writes back a new value.
func (s *session) guardedWriteBack(ctx context.Context, secret, why string, who gitsync.Author) (gitsync.Commit, error) {
	if err := s.withJournal(s.guard); err != nil {
		return gitsync.Commit{}, err
	}
	// The journal is not held across the push: status, plan and apply stay usable meanwhile.
	c, err := s.writeBack(ctx, secret, why, who)
	if err != nil {
		return c, err
	}
	if err := s.withJournal(func(j *journal.Journal) error { return j.MarkWriteBack(ctx, secret, time.Now()) }); err != nil {
		// The commit is out: apply it regardless; only the due-time bookkeeping is missing.
		s.warn("committed " + short(c.Hash) + " but could not record the write-back in the journal: " + err.Error())
	}
	return c, nil
}

func (s *session) withJournal(f func(*journal.Journal) error) error {
	j, err := journal.Open(s.o.stateDir)
	if err != nil {
		return err
	}
	defer j.Close()
	return f(j)
}

// writeBack generates a new value for secret, encrypts the values file to the recipients of the
// repository's .sops.yaml (so everyone who could decrypt before still can) and commits it on top of the
// commit just loaded. For remotes the commit is pushed; nothing is applied if that fails.
func (s *session) writeBack(ctx context.Context, secret, why string, who gitsync.Author) (gitsync.Commit, error) {
	spec, ok := s.cfg.Secrets[secret]
	if !ok {
		return gitsync.Commit{}, fmt.Errorf("secret %s is not declared in %s", secret, configFile)
	}
	var length int
	var charset, tmpl string
	if g := spec.Generate; g != nil {
		length, charset, tmpl = g.Length, g.Charset, g.Format
	}
	random, err := generate.Value(length, charset)
	if err != nil {
		return gitsync.Commit{}, err
	}
	value := random
	if tmpl != "" {
		value = strings.Replace(tmpl, "{value}", random, 1)
	}
	recipients, err := s.readers()
	if err != nil {
		return gitsync.Commit{}, err
	}
	values := maps.Clone(s.values)
	values[secret] = value
	format := sopsio.FormatForPath(s.cfg.Values)
	plain, err := marshalValues(values, format)
	if err != nil {
		return gitsync.Commit{}, err
	}
	enc, err := sopsio.Encrypt(plain, format, recipients)
	if err != nil {
		return gitsync.Commit{}, err
	}
	branch := s.o.ref
	if branch == "" {
		if branch, err = s.repo.Branch(); err != nil {
			return gitsync.Commit{}, err
		}
	}
	msg := fmt.Sprintf("rekey: rotate %s (%s)\n\nA new value (%s) generated by rekey. The old value is dropped once every\nconsumer verified the new one.\n", secret, why, s.fp.Of(value))
	c, err := s.repo.Commit(ctx, branch, s.commit.Hash, []gitsync.Change{{Path: s.cfg.Values, Content: enc}}, msg, who)
	if err != nil {
		return gitsync.Commit{}, fmt.Errorf("failed to write the new value of %s back to %s (nothing was applied): %w", secret, branch, err)
	}
	return c, nil
}

// readers are the age recipients the values file is encrypted to now. A write-back re-encrypts every
// value, so it keeps exactly these: taking .sops.yaml instead would let anyone who can push add a
// recipient of their own and read every secret in the next write-back.
func (s *session) readers() ([]string, error) {
	data, err := s.repo.ReadFile(s.commit.Hash, s.cfg.Values)
	if err != nil {
		return nil, err
	}
	recipients, err := sopsio.FileRecipients(data, sopsio.FormatForPath(s.cfg.Values))
	if err != nil {
		return nil, fmt.Errorf("failed to read the recipients of %s: %w", s.cfg.Values, err)
	}
	rules, err := s.repo.ReadFile(s.commit.Hash, ".sops.yaml")
	if err == nil {
		if want, err := sopsio.RecipientsFor(rules, ".", s.cfg.Values); err == nil && !sameSet(want, recipients) {
			s.warn("the recipients in .sops.yaml differ from those the values file is encrypted to; the write-back keeps the file's (re-encrypt with sops to change who can read it)")
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
func (s *session) dueForRotation(ctx context.Context, j *journal.Journal, now time.Time) ([]string, error) {
	var due []string
	for _, name := range s.cfg.Names() {
		every := s.cfg.Secrets[name].RotateEvery.Duration
		if every == 0 || s.isSkipped(name) {
			continue // never rotated, or invalid: a value generated for it could not be applied
		}
		since, err := j.Since(ctx, name, now)
		if err != nil {
			return nil, err
		}
		recs, err := j.Records(name)
		if err != nil {
			return nil, err
		}
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

func (s *session) isSkipped(name string) bool {
	for _, sk := range s.skipped {
		if sk.name == name {
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
