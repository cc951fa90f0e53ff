package sopsio

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The sops config package only loads .sops.yaml from a path, so the creation
// rules are parsed here, with the same semantics for what rekey needs.
type creationRule struct {
	PathRegex string     `yaml:"path_regex"`
	Age       any        `yaml:"age"` // comma-separated string or list
	KeyGroups []keyGroup `yaml:"key_groups"`

	// Other key types, only to refuse rules that use them.
	PGP           any `yaml:"pgp"`
	KMS           any `yaml:"kms"`
	GCPKMS        any `yaml:"gcp_kms"`
	HCKMS         any `yaml:"hckms"`
	AzureKeyVault any `yaml:"azure_keyvault"`
	VaultURI      any `yaml:"hc_vault_transit_uri"`
}

type keyGroup struct {
	Merge []keyGroup `yaml:"merge"`
	Age   []string   `yaml:"age"`

	PGP     any `yaml:"pgp"`
	KMS     any `yaml:"kms"`
	GCPKMS  any `yaml:"gcp_kms"`
	HCKMS   any `yaml:"hckms"`
	AzureKV any `yaml:"azure_keyvault"`
	Vault   any `yaml:"hc_vault"`
}

// RecipientsFor returns the age recipients that the .sops.yaml content
// sopsConfig assigns to filePath, the way `sops --encrypt` picks them: the
// first creation rule whose path_regex matches (a rule without one matches
// everything) wins; the path matched is filePath relative to configDir, the
// directory of .sops.yaml (a relative filePath is taken as relative to it
// already). `age:` may be a comma-separated string or a list; a rule with
// key_groups uses the age keys of its (single) group, merge included.
//
// Rules that also name PGP, KMS or Vault keys, or several key groups (Shamir
// secret sharing), are refused: rekey encrypts to age recipients only and
// must not silently drop the other keys.
func RecipientsFor(sopsConfig []byte, configDir, filePath string) ([]string, error) {
	rel := relativeTo(configDir, filePath)
	fail := func(format string, args ...any) error {
		return fmt.Errorf("failed to find the age recipients of %s in .sops.yaml: %s", rel, fmt.Sprintf(format, args...))
	}
	var conf struct {
		CreationRules []creationRule `yaml:"creation_rules"`
	}
	if err := yaml.Unmarshal(sopsConfig, &conf); err != nil {
		return nil, fail("%v", err)
	}
	if len(conf.CreationRules) == 0 {
		return nil, fail("it has no creation_rules")
	}
	for i, rule := range conf.CreationRules {
		if rule.PathRegex != "" {
			re, err := regexp.Compile(rule.PathRegex)
			if err != nil {
				return nil, fail("creation rule %d: invalid path_regex: %v", i+1, err)
			}
			if !re.MatchString(rel) {
				continue
			}
		}
		recipients, err := rule.ageRecipients()
		if err != nil {
			return nil, fail("creation rule %d%s: %v", i+1, describeRegex(rule.PathRegex), err)
		}
		return recipients, nil
	}
	return nil, fail("no creation rule matches it")
}

// relativeTo returns filePath relative to configDir when it lies inside it,
// as sops matches path_regex against.
func relativeTo(configDir, filePath string) string {
	if !filepath.IsAbs(filePath) {
		return filepath.Clean(filePath)
	}
	if configDir == "" {
		return filePath
	}
	dir := configDir
	if !filepath.IsAbs(dir) {
		if abs, err := filepath.Abs(dir); err == nil {
			dir = abs
		}
	}
	return strings.TrimPrefix(filepath.Clean(filePath), filepath.Clean(dir)+string(filepath.Separator))
}

func describeRegex(re string) string {
	if re == "" {
		return ""
	}
	return fmt.Sprintf(" (path_regex %q)", re)
}

func (r creationRule) ageRecipients() ([]string, error) {
	var recipients []string
	if len(r.KeyGroups) > 0 {
		if len(r.KeyGroups) > 1 {
			return nil, fmt.Errorf("it has %d key_groups (Shamir secret sharing), which rekey does not support", len(r.KeyGroups))
		}
		var err error
		if recipients, err = r.KeyGroups[0].ageRecipients(); err != nil {
			return nil, err
		}
	} else {
		if others := usedKeyTypes(map[string]any{"pgp": r.PGP, "kms": r.KMS, "gcp_kms": r.GCPKMS, "hckms": r.HCKMS,
			"azure_keyvault": r.AzureKeyVault, "hc_vault_transit_uri": r.VaultURI}); others != "" {
			return nil, fmt.Errorf("it also names %s keys; rekey encrypts to age recipients only", others)
		}
		entries, err := stringList(r.Age)
		if err != nil {
			return nil, err
		}
		recipients = splitRecipients(entries)
	}
	if len(recipients) == 0 {
		return nil, errors.New("it names no age recipient")
	}
	for _, rc := range recipients {
		if err := checkRecipient(rc); err != nil {
			return nil, err
		}
	}
	return dedupe(recipients), nil
}

func (g keyGroup) ageRecipients() ([]string, error) {
	if others := usedKeyTypes(map[string]any{"pgp": g.PGP, "kms": g.KMS, "gcp_kms": g.GCPKMS, "hckms": g.HCKMS,
		"azure_keyvault": g.AzureKV, "hc_vault": g.Vault}); others != "" {
		return nil, fmt.Errorf("its key group also names %s keys; rekey encrypts to age recipients only", others)
	}
	var recipients []string
	for _, m := range g.Merge {
		rs, err := m.ageRecipients()
		if err != nil {
			return nil, err
		}
		recipients = append(recipients, rs...)
	}
	return append(recipients, splitRecipients(g.Age)...), nil
}

// usedKeyTypes lists, sorted, the names of the non-empty fields.
func usedKeyTypes(fields map[string]any) string {
	var used []string
	for _, name := range []string{"pgp", "kms", "gcp_kms", "hckms", "azure_keyvault", "hc_vault", "hc_vault_transit_uri"} {
		v, ok := fields[name]
		if !ok || v == nil {
			continue
		}
		if s, isString := v.(string); isString && strings.TrimSpace(s) == "" {
			continue
		}
		if l, isList := v.([]any); isList && len(l) == 0 {
			continue
		}
		used = append(used, name)
	}
	return strings.Join(used, ", ")
}

// stringList accepts what sops accepts for a key field: a string or a list of
// strings.
func stringList(v any) ([]string, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{v}, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, item := range v {
			s, ok := item.(string)
			if !ok {
				return nil, fmt.Errorf("age: want a string or a list of strings, got a list item of type %T", item)
			}
			out = append(out, s)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("age: want a string or a list of strings, got %T", v)
	}
}

// splitRecipients splits comma-separated entries, as sops does, dropping
// empty ones.
func splitRecipients(entries []string) []string {
	var out []string
	for _, e := range entries {
		for _, r := range strings.Split(e, ",") {
			if r = strings.TrimSpace(r); r != "" {
				out = append(out, r)
			}
		}
	}
	return out
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	out := in[:0:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
