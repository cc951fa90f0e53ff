package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/rekeyhq/rekey/config"
	"github.com/rekeyhq/rekey/internal/fsx"
	"github.com/rekeyhq/rekey/internal/generate"
	"github.com/rekeyhq/rekey/sopsio"
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
	return setValue(&o, e, name, value)
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

func setValue(o *options, e env, name, value string) error {
	cfg, err := config.Load(filepath.Join(o.repo, configFile))
	if err != nil {
		return err
	}
	if _, ok := cfg.Secrets[name]; !ok {
		return fmt.Errorf("secret %s is not declared in %s (declared: %s)", name, configFile, strings.Join(cfg.Names(), ", "))
	}
	rules, err := os.ReadFile(filepath.Join(o.repo, ".sops.yaml"))
	if err != nil {
		return fmt.Errorf("failed to read .sops.yaml: %w; it names the age recipients of the values file", err)
	}
	recipients, err := sopsio.RecipientsFor(rules, o.repo, cfg.Values)
	if err != nil {
		return err
	}
	path := filepath.Join(o.repo, cfg.Values)
	values, err := currentValues(o, e, path, cfg.Values)
	if err != nil {
		return err
	}
	values[name] = value
	format := sopsio.FormatForPath(path)
	plain, err := marshalValues(values, format)
	if err != nil {
		return err
	}
	enc, err := sopsio.Encrypt(plain, format, recipients)
	if err != nil {
		return err
	}
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm() // keep what the repository had
	}
	if err := fsx.WriteFileAtomic(path, enc, mode); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "encrypted %s into %s for %d recipient(s); commit it to rotate\n", name, cfg.Values, len(recipients))
	return nil
}

func currentValues(o *options, e env, path, name string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	ids, err := identities(o, e)
	if err != nil {
		return nil, err
	}
	return sopsio.DecryptValues(data, name, ids)
}

// marshalValues writes a flat map with sorted keys and every value as a string, in the values file's
// format. Dotenv cannot carry every value (newlines), so it is refused.
func marshalValues(values map[string]string, format sopsio.Format) ([]byte, error) {
	switch format {
	case sopsio.FormatJSON:
		return json.MarshalIndent(values, "", "  ")
	case sopsio.FormatDotenv:
		return nil, errors.New("values set writes YAML or JSON values files; use sops to edit a dotenv one")
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	doc := &yaml.Node{Kind: yaml.MappingNode}
	for _, k := range keys {
		doc.Content = append(doc.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Value: k},
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: values[k]})
	}
	return yaml.Marshal(doc)
}
