package main

import (
	"context"
	"fmt"
	"net/mail"
	"os"

	"github.com/spf13/cobra"

	"github.com/rekeyhq/rekey/app"
	"github.com/rekeyhq/rekey/gitsync"
)

// rotateCmd generates a new value for a secret, commits it to the desired-state repository (pushing it
// for remotes) and only then applies it: the old value can never come back with the next deploy.
func rotateCmd(e env) *cobra.Command {
	var o options
	var author, signingKey string
	c := withOptions(&cobra.Command{
		Use:   "rotate SECRET",
		Short: "Generate a new value, commit (and push) it, then apply it",
		Long: `Rotate moves SECRET to a value rekey generates, with Git as the record: the new value is encrypted
into the values file and committed to the desired-state repository (and pushed, for a remote one)
first, and only then applied, as apply would. The next deploy cannot bring the old value back. With
commit verification on (--trust-ssh or --trust-openpgp), the commit must be signed with --signing-key, a
key listed in --trust-ssh, or nothing is committed.`,
		Example: `  rekey rotate app_key --repo /srv/stack-secrets --age-key-file /etc/rekey/age.key
  rekey rotate db_password --repo git@git.example.com:ops/secrets.git \
    --git-ssh-key /etc/rekey/deploy-key --git-known-hosts /etc/rekey/known_hosts \
    --signing-key /etc/rekey/signing-key --trust-ssh /etc/rekey/trusted-signers`,
		Args:              oneSecret,
		ValidArgsFunction: completeSecret(&o),
	}, &o, func(ctx context.Context, args []string) error {
		return runRotate(ctx, &o, e, args[0], author, signingKey)
	})
	bindAuthor(c, &author, &signingKey, "the write-back commit")
	return c
}

// bindAuthor declares --author and --signing-key, for the commits rekey writes (what they are for).
func bindAuthor(c *cobra.Command, author, signingKey *string, what string) {
	c.Flags().StringVar(author, "author", "rekey <rekey@localhost>", "author of "+what)
	c.Flags().StringVar(signingKey, "signing-key", "", "private key that signs "+what+": unencrypted OpenSSH, or armored OpenPGP without a passphrase (trust its public key with --trust-ssh or --trust-openpgp)")
	completeWords(c, "author")
	completeFiles(c, "signing-key")
}

func runRotate(ctx context.Context, o *options, e env, secret, author, signingKey string) error {
	who, err := parseAuthor(author, signingKey)
	if err != nil {
		return err
	}
	c, err := app.WriteBack(ctx, o.app(e), secret, who)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "committed %s: %s\n", gitsync.Short(c.Hash), gitsync.Subject(c.Message))
	next := *o
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
