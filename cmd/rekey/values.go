package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rekeyhq/rekey/app"
	"github.com/rekeyhq/rekey/internal/generate"
)

// valuesCmd edits the encrypted values file of a local working tree; committing it is the rotation.
func valuesCmd(e env) *cobra.Command {
	c := &cobra.Command{
		Use:   "values",
		Short: "Edit the encrypted values file",
		Long:  "Values edits the encrypted values file of a local working tree of the desired-state repository.",
		Example: `  printf %s "$NEW_PASSWORD" | rekey values set db_password --repo /srv/stack-secrets
  rekey values set app_key --generate 48`,
		RunE: func(*cobra.Command, []string) error {
			return usageError("usage: rekey values set [--repo DIR] [--generate N] SECRET < value")
		},
	}
	c.AddCommand(valuesSetCmd(e))
	return c
}

func valuesSetCmd(e env) *cobra.Command {
	var o options
	var gen int
	var exact bool
	c := &cobra.Command{
		Use:   "set SECRET",
		Short: "Encrypt a new value (read from stdin) into the values file",
		Long: `Set encrypts a new value for SECRET into the values file of a local working tree, to the recipients
.sops.yaml names. The value is read from stdin (one trailing newline dropped, so echo works; with
--keep-newline byte for byte, for a PEM key or a file that must end in a newline) or, with --generate N,
generated. Nothing is rotated yet: commit the file, and rekey apply (or the agent) rotates
it.`,
		Example: `  printf %s "$NEW_PASSWORD" | rekey values set db_password --repo /srv/stack-secrets
  rekey values set app_key --generate 48 && git commit -am 'rotate app_key'
  rekey values set tls_key --keep-newline < tls.key`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("values set takes exactly one secret name")
			}
			return nil
		},
		ValidArgsFunction: completeSecret(&o),
		RunE: func(_ *cobra.Command, args []string) error {
			value, err := newValue(e.stdin, gen, exact)
			if err != nil {
				return err
			}
			set, err := app.SetValue(o.app(e), args[0], value)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "encrypted %s into %s for %d recipient(s); commit it to rotate\n", args[0], set.File, set.Recipients)
			return nil
		},
	}
	c.Flags().StringVar(&o.repo, "repo", ".", "working tree of the desired-state repository")
	c.Flags().StringVar(&o.ageKeyFile, "age-key-file", "", "age identities (default $SOPS_AGE_KEY_FILE, then ~/.config/sops/age/keys.txt)")
	c.Flags().IntVar(&gen, "generate", 0, "generate a random value of N characters (base64url alphabet, N ≥ 16) instead of reading stdin")
	c.Flags().BoolVar(&exact, "keep-newline", false, "keep the value read from stdin byte for byte, trailing newline included")
	completeDirs(c, "repo")
	completeFiles(c, "age-key-file")
	completeWords(c, "generate")
	return c
}

// newValue reads the value from stdin (one trailing newline dropped, so `echo x |` works, unless exact)
// or generates one.
func newValue(stdin io.Reader, gen int, exact bool) (string, error) {
	if gen > 0 && exact {
		return "", usageError("--keep-newline applies to a value read from stdin, not to --generate")
	}
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
	v := string(data)
	if !exact {
		v = strings.TrimSuffix(strings.TrimSuffix(v, "\n"), "\r")
	}
	if v == "" {
		return "", errors.New("empty value: pipe the value on stdin, or use --generate N")
	}
	return v, nil
}
