package main

import (
	"context"
	"fmt"
	"net/mail"
	"os"

	"github.com/rekeyhq/rekey/app"
	"github.com/rekeyhq/rekey/gitsync"
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
	who, err := parseAuthor(*author, *signingKey)
	if err != nil {
		return err
	}
	c, err := app.WriteBack(ctx, o.app(e), pos[0], who)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "committed %s: %s\n", app.Short(c.Hash), app.FirstLine(c.Message))
	next := o
	next.ref = c.Hash
	s, results, err := app.Apply(ctx, next.app(e))
	if s == nil {
		return err
	}
	printResults(e.stdout, results)
	return s.Outcome(results, err)
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
