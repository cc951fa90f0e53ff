package discover

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/rekeyhq/rekey/composeio"
	"github.com/rekeyhq/rekey/config"
	"github.com/rekeyhq/rekey/engine"
	"github.com/rekeyhq/rekey/reconcile"
)

// validate checks the proposal with the same code plan uses: config.Parse, then engine.Build. Secrets
// the engine refuses (no consumer, a value an env file cannot carry…) are left out and reported.
func validate(ctx context.Context, p *composeio.Project, secrets []*Secret, rep *Report) ([]*Secret, error) {
	var desired reconcile.Desired
	for _, s := range secrets {
		if s.Var != "" && (strings.ContainsRune(s.value, 0) || !utf8.ValidString(s.value)) {
			rep.Skipped = append(rep.Skipped, Skip{Name: s.Name, Reason: "its value holds a NUL byte or invalid UTF-8"})
		}
	}
	secrets = slices.DeleteFunc(secrets, func(s *Secret) bool {
		return slices.ContainsFunc(rep.Skipped, func(k Skip) bool { return k.Name == s.Name })
	})
	if len(secrets) == 0 {
		return nil, nil
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	fp := func(v string) string {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(v))
		return "hmac:" + hex.EncodeToString(m.Sum(nil))[:16]
	}
	build := func(secrets []*Secret, skip func(string, error)) error {
		data, err := rekeyYAML(p, secrets, rep.ComposeFiles)
		if err != nil {
			return fmt.Errorf("rekey init cannot write rekey.yaml (a bug): %w", err)
		}
		cfg, err := config.Parse(config.FileName, data)
		if err != nil {
			return fmt.Errorf("rekey init wrote an invalid rekey.yaml (a bug): %w", err)
		}
		values := map[string]string{}
		for _, s := range secrets {
			values[s.Name] = s.value
		}
		desired, err = engine.Build(ctx, engine.Input{Config: cfg, Project: p, Values: values, FP: fp, Revision: "init", Skip: skip})
		return err
	}
	var bad []Skip
	if err := build(secrets, func(name string, err error) {
		bad = append(bad, Skip{Name: name, Reason: lineRef.ReplaceAllString(err.Error(), "")})
	}); err != nil {
		return nil, err
	}
	rep.Skipped = append(rep.Skipped, bad...)
	secrets = slices.DeleteFunc(secrets, func(s *Secret) bool {
		return slices.ContainsFunc(bad, func(k Skip) bool { return k.Name == s.Name })
	})
	if len(secrets) == 0 {
		return nil, nil
	}
	if err := build(secrets, nil); err != nil {
		return nil, fmt.Errorf("rekey init wrote a rekey.yaml the engine refuses (a bug): %w", err)
	}
	markReaders(p, secrets, desired, rep)
	return secrets, nil
}

// lineRef is the rekey.yaml:LINE prefix of the engine's errors: the lines of a file the reader has not seen.
var lineRef = regexp.MustCompile(`^rekey\.yaml:\d+: `)
