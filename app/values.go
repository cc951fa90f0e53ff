package app

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/rekeyhq/rekey/config"
	"github.com/rekeyhq/rekey/internal/fsx"
	"github.com/rekeyhq/rekey/sopsio"
)

// ValueSet says what SetValue wrote.
type ValueSet struct {
	File       string // the values file, as rekey.yaml names it
	Recipients int    // how many age recipients it is encrypted to
}

// SetValue encrypts value as secret name into the values file of the working tree at o.Repo, for the
// recipients .sops.yaml names; committing it is the rotation.
func SetValue(o Options, name, value string) (ValueSet, error) {
	cfg, err := config.Load(filepath.Join(o.Repo, ConfigFile))
	if err != nil {
		return ValueSet{}, err
	}
	if _, ok := cfg.Secrets[name]; !ok {
		return ValueSet{}, fmt.Errorf("secret %s is not declared in %s (declared: %s)", name, ConfigFile, strings.Join(cfg.Names(), ", "))
	}
	rules, err := os.ReadFile(filepath.Join(o.Repo, ".sops.yaml"))
	if err != nil {
		return ValueSet{}, fmt.Errorf("failed to read .sops.yaml: %w; it names the age recipients of the values file", err)
	}
	recipients, err := sopsio.RecipientsFor(rules, o.Repo, cfg.Values)
	if err != nil {
		return ValueSet{}, err
	}
	path := filepath.Join(o.Repo, cfg.Values)
	values, err := currentValues(o, path, cfg.Values)
	if err != nil {
		return ValueSet{}, err
	}
	values[name] = value
	enc, err := sopsio.EncryptValues(values, sopsio.FormatForPath(path), recipients)
	if err != nil {
		return ValueSet{}, err
	}
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm() // keep what the repository had
	}
	if err := fsx.WriteFileAtomic(path, enc, mode); err != nil {
		return ValueSet{}, err
	}
	return ValueSet{File: cfg.Values, Recipients: len(recipients)}, nil
}

func currentValues(o Options, path, name string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	ids, err := o.Identities()
	if err != nil {
		return nil, err
	}
	return sopsio.DecryptValues(data, name, ids)
}
