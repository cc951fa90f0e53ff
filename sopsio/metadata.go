package sopsio

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/getsops/sops/v3"
	sopsage "github.com/getsops/sops/v3/age"
	"go.yaml.in/yaml/v3"
)

// FileRecipients returns the age recipients an encrypted YAML or JSON document is encrypted to, from its
// SOPS metadata. Re-encrypting to exactly these keeps the set of readers as it is, whatever a (possibly
// tampered) .sops.yaml now says.
//
// rekey can only encrypt to age recipients. A document whose data key is also encrypted to other keys
// (PGP, AWS/GCP/Huawei KMS, Azure Key Vault, HashiCorp Vault, or a key type this sops version does not
// know), or that is split into several key groups (Shamir secret sharing), is refused with an *Error of
// reason ReasonUnsupportedKeys naming those keys: re-encrypting it to its age recipients alone would
// silently drop the other readers. (Encrypting to PGP keys would need their public keys, which the
// document does not hold, from a GnuPG keyring or the gpg binary; KMS and Vault keys need their
// services.)
func FileRecipients(data []byte, format Format) ([]string, error) {
	if format == FormatDotenv {
		return nil, &Error{Reason: ReasonMalformed, Err: fmt.Errorf("reading recipients from a dotenv file is not supported; use YAML or JSON")}
	}
	store, err := format.store()
	if err != nil {
		return nil, &Error{Reason: ReasonMalformed, Err: err}
	}
	if _, err := store.LoadPlainFile(data); err != nil {
		return nil, &Error{Reason: ReasonMalformed, Err: syntaxError(format, data, err)}
	}
	// The key groups as sops itself reads them (and as Decrypt used them).
	tree, err := store.LoadEncryptedFile(data)
	if errors.Is(err, sops.MetadataNotFound) {
		return nil, &Error{Reason: ReasonNotEncrypted, Err: fmt.Errorf("no sops metadata")}
	}
	if err != nil {
		return nil, &Error{Reason: ReasonMalformed, Err: metadataError(err)}
	}
	groups := tree.Metadata.KeyGroups
	if len(groups) > 1 {
		return nil, unsupportedKeys(fmt.Sprintf("it is split into %d key groups (Shamir secret sharing, threshold %d)",
			len(groups), tree.Metadata.ShamirThreshold))
	}
	var out, others []string
	for _, group := range groups {
		for _, k := range group {
			if ak, ok := k.(*sopsage.MasterKey); ok {
				if ak.Recipient != "" {
					out = append(out, ak.Recipient)
				}
				continue
			}
			others = append(others, k.TypeToIdentifier()+" "+k.ToString())
		}
	}
	unknown, err := unknownKeyTypes(data)
	if err != nil {
		return nil, &Error{Reason: ReasonMalformed, Err: fmt.Errorf("failed to parse the SOPS metadata")}
	}
	for _, u := range unknown {
		others = append(others, fmt.Sprintf("%s keys (a key type this version of rekey does not know)", u))
	}
	if len(others) > 0 {
		return nil, unsupportedKeys("it is also encrypted to " + strings.Join(others, ", "))
	}
	if len(out) == 0 {
		return nil, &Error{Reason: ReasonNoMatchingKey, Err: fmt.Errorf("the file names no age recipient")}
	}
	return out, nil
}

// unsupportedKeys is the FileRecipients error for a document rekey cannot
// re-encrypt without dropping readers; why says what they are.
func unsupportedKeys(why string) error {
	return &Error{Reason: ReasonUnsupportedKeys, op: "re-encrypt", Err: fmt.Errorf(
		"%s, which rekey cannot encrypt to (age recipients only): a write-back would drop those readers; "+
			"rotate this secret by committing a new value yourself (sops set or sops edit), "+
			"or make the file age-only (sops updatekeys) to let rekey write it back", why)}
}

// The fields of the sops metadata entry that are not keys (sops'
// stores.metadata), and the key fields sops knows.
var (
	metadataFields = map[string]bool{
		"lastmodified": true, "mac": true, "version": true, "shamir_threshold": true,
		"unencrypted_suffix": true, "encrypted_suffix": true, "unencrypted_regex": true, "encrypted_regex": true,
		"unencrypted_comment_regex": true, "encrypted_comment_regex": true, "mac_only_encrypted": true,
	}
	keyFields = map[string]bool{
		"age": true, "pgp": true, "kms": true, "gcp_kms": true, "hckms": true, "azure_kv": true, "hc_vault": true,
	}
)

// unknownKeyTypes lists, sorted, the fields of the sops metadata (and of its
// key groups) that hold a non-empty list or map and are neither metadata nor
// a key type sops knows: keys of a type added in a later sops version, which
// the sops library here ignores and a re-encryption would drop.
func unknownKeyTypes(data []byte) ([]string, error) {
	var doc struct {
		Sops map[string]any `yaml:"sops"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil { // YAML is a superset of JSON
		return nil, err
	}
	seen := map[string]bool{}
	check := func(fields map[string]any, where string) {
		for name, v := range fields {
			if metadataFields[name] || keyFields[name] || name == "key_groups" || !nonEmptyCollection(v) {
				continue
			}
			seen[where+name] = true
		}
	}
	check(doc.Sops, "")
	if groups, ok := doc.Sops["key_groups"].([]any); ok {
		for _, g := range groups {
			if fields, ok := g.(map[string]any); ok {
				check(fields, "key_groups.")
			}
		}
	}
	out := make([]string, 0, len(seen))
	for name := range seen {
		out = append(out, name)
	}
	sort.Strings(out)
	return out, nil
}

func nonEmptyCollection(v any) bool {
	switch v := v.(type) {
	case []any:
		return len(v) > 0
	case map[string]any:
		return len(v) > 0
	}
	return false
}
