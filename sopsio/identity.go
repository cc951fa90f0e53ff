package sopsio

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"filippo.io/age"
)

// maxKeyFileSize bounds what LoadIdentities reads.
const maxKeyFileSize = 1 << 20

// LoadIdentities parses age identities from the content of a keys.txt file
// (as written by age-keygen): one AGE-SECRET-KEY-… per line, blank lines and
// lines starting with "#" ignored. Errors name the line, never its content.
func LoadIdentities(r io.Reader) ([]age.Identity, error) {
	var ids []age.Identity
	lr := &io.LimitedReader{R: r, N: maxKeyFileSize + 1}
	sc := bufio.NewScanner(lr)
	sc.Buffer(make([]byte, 0, 4096), maxKeyFileSize)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		// Parse one line at a time: the error of the age parser may quote
		// characters of the key, so it is not passed on.
		parsed, err := age.ParseIdentities(strings.NewReader(line))
		if err != nil {
			return nil, fmt.Errorf("line %d is not a valid age identity (want an AGE-SECRET-KEY-… line)", n)
		}
		ids = append(ids, parsed...)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("failed to read age identities: %w", err)
	}
	if lr.N == 0 {
		return nil, fmt.Errorf("age key file is larger than %d bytes", maxKeyFileSize)
	}
	if len(ids) == 0 {
		return nil, errors.New("no age identity found (want lines starting AGE-SECRET-KEY-)")
	}
	return ids, nil
}

// DefaultKeyFile returns the age key file the sops CLI would read:
// $SOPS_AGE_KEY_FILE if set, else sops/age/keys.txt in the user configuration
// directory ($XDG_CONFIG_HOME if set to an absolute path, else
// <home>/.config). The caller passes the environment in explicitly.
func DefaultKeyFile(getenv func(string) string, home string) string {
	if f := getenv("SOPS_AGE_KEY_FILE"); f != "" {
		return f
	}
	dir := filepath.Join(home, ".config")
	if x := getenv("XDG_CONFIG_HOME"); x != "" && filepath.IsAbs(x) {
		dir = x
	}
	return filepath.Join(dir, "sops", "age", "keys.txt")
}
