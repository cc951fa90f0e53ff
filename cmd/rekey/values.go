package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/rekeyhq/rekey/app"
	"github.com/rekeyhq/rekey/internal/generate"
)

// cmdValues edits the encrypted values file of a local working tree; committing it is the rotation.
func cmdValues(ctx context.Context, args []string, e env) error {
	if len(args) == 0 || args[0] != "set" {
		return usageError("usage: rekey values set [--repo DIR] [--generate N] SECRET < value")
	}
	var o options
	fs := flag.NewFlagSet("rekey values set", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.StringVar(&o.repo, "repo", ".", "working tree of the desired-state repository")
	fs.StringVar(&o.ageKeyFile, "age-key-file", "", "age identities (default $SOPS_AGE_KEY_FILE, then ~/.config/sops/age/keys.txt)")
	gen := fs.Int("generate", 0, "generate a random value of N characters (base64url alphabet, N ≥ 16) instead of reading stdin")
	if err := fs.Parse(args[1:]); err != nil {
		if err == flag.ErrHelp {
			return &codeError{code: exitOK}
		}
		return &codeError{code: exitUsage}
	}
	if fs.NArg() != 1 {
		return usageError("values set takes exactly one secret name")
	}
	name := fs.Arg(0)
	value, err := newValue(e.stdin, *gen)
	if err != nil {
		return err
	}
	set, err := app.SetValue(o.app(e), name, value)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "encrypted %s into %s for %d recipient(s); commit it to rotate\n", name, set.File, set.Recipients)
	return nil
}

// newValue reads the value from stdin (one trailing newline dropped, so `echo x |` works) or generates one.
func newValue(stdin io.Reader, gen int) (string, error) {
	if gen > 0 {
		if gen < 16 {
			return "", usageError("--generate takes at least 16 characters")
		}
		return generate.Value(gen, "base64url")
	}
	const max = 1 << 20
	data, err := io.ReadAll(io.LimitReader(stdin, max+1))
	if err != nil {
		return "", fmt.Errorf("failed to read the value from stdin: %w", err)
	}
	if len(data) > max {
		return "", errors.New("the value on stdin is larger than 1 MiB: secrets that large belong in a file")
	}
	v := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
	if v == "" {
		return "", errors.New("empty value: pipe the value on stdin, or use --generate N")
	}
	return v, nil
}
