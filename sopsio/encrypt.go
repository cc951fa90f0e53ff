package sopsio

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/getsops/sops/v3"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/keyservice"
)

// Encrypt encrypts the cleartext document plain to the given age recipients
// ("age1…" public keys, all in one key group) the way `sops --encrypt` does
// without a .sops.yaml rule beyond the recipients: a fresh data key, every
// value encrypted with AES-GCM except those under keys ending in
// "_unencrypted" (sops' default unencrypted_suffix), a MAC, lastmodified and
// the standard sops metadata. Malformed input gives an *Error.
func Encrypt(plain []byte, format Format, recipients []string) ([]byte, error) {
	store, err := format.store()
	if err != nil {
		return nil, fmt.Errorf("failed to encrypt: %w", err)
	}
	branches, err := store.LoadPlainFile(plain)
	if err != nil {
		return nil, &Error{Reason: ReasonMalformed, Err: syntaxError(format, plain, err), op: "encrypt"}
	}
	if len(branches) == 0 {
		return nil, &Error{Reason: ReasonMalformed, Err: errors.New("the document is empty"), op: "encrypt"}
	}
	if store.HasSopsTopLevelKey(branches[0]) {
		return nil, &Error{Reason: ReasonMalformed, op: "encrypt",
			Err: errors.New("the document already has sops metadata (a top-level sops entry); decrypt it first")}
	}
	group, err := ageKeyGroup(recipients)
	if err != nil {
		return nil, fmt.Errorf("failed to encrypt: %w", err)
	}
	return encryptTree(store, format, branches, []sops.KeyGroup{group}, 0)
}

// encryptTree encrypts branches to the key groups (all age keys; with
// several groups the data key is split among them, threshold of them needed)
// and emits the document.
func encryptTree(store sops.Store, format Format, branches sops.TreeBranches, groups []sops.KeyGroup, threshold int) ([]byte, error) {
	tree := sops.Tree{
		Branches: branches,
		Metadata: sops.Metadata{
			KeyGroups:         groups,
			ShamirThreshold:   threshold,
			UnencryptedSuffix: sops.DefaultUnencryptedSuffix,
			Version:           sopsVersion(),
		},
	}
	svc := &ageKeyService{}
	dataKey, errs := tree.GenerateDataKeyWithKeyServices([]keyservice.KeyServiceClient{svc.client()})
	if len(errs) > 0 {
		return nil, fmt.Errorf("failed to encrypt: could not encrypt the data key: %w", errors.Join(errs...))
	}
	c := newCipher()
	mac, err := tree.Encrypt(dataKey, c)
	if err != nil {
		what := "a value"
		if k := c.failedKey(); k != "" {
			what = fmt.Sprintf("the value of key %q", k)
		}
		return nil, &Error{Reason: ReasonMalformed, op: "encrypt", Err: fmt.Errorf("%s cannot be encrypted (unsupported type)", what)}
	}
	tree.Metadata.LastModified = time.Now().UTC()
	tree.Metadata.MessageAuthenticationCode, err = c.Encrypt(mac, dataKey, tree.Metadata.LastModified.Format(time.RFC3339))
	if err != nil {
		return nil, errors.New("failed to encrypt: could not encrypt the MAC")
	}
	out, err := store.EmitEncryptedFile(tree)
	if err != nil {
		return nil, &Error{Reason: ReasonMalformed, op: "encrypt", Err: fmt.Errorf("the encrypted document cannot be written as %s", format)}
	}
	return out, nil
}

// ageKeyGroup returns one key group with a master key per distinct recipient.
// Only native age recipients are accepted: plugin recipients would run
// external programs.
func ageKeyGroup(recipients []string) (sops.KeyGroup, error) {
	var group sops.KeyGroup
	seen := map[string]bool{}
	for _, r := range recipients {
		r = strings.TrimSpace(r)
		if err := checkRecipient(r); err != nil {
			return nil, err
		}
		if seen[r] {
			continue
		}
		seen[r] = true
		mk, err := sopsage.MasterKeyFromRecipient(r)
		if err != nil {
			return nil, fmt.Errorf("invalid age recipient %q", r)
		}
		group = append(group, mk)
	}
	if len(group) == 0 {
		return nil, errors.New("no age recipient given; list them under age: in the .sops.yaml creation rule")
	}
	return group, nil
}

// checkRecipient accepts X25519 (age1…) and post-quantum hybrid (age1pq1…)
// age recipients.
func checkRecipient(r string) error {
	if _, err := age.ParseX25519Recipient(r); err == nil {
		return nil
	}
	if strings.HasPrefix(r, "age1pq1") {
		if _, err := age.ParseHybridRecipient(r); err == nil {
			return nil
		}
	}
	return fmt.Errorf("invalid age recipient %q: want an age public key (age1…); plugin and SSH recipients are not supported", r)
}

// fallbackSopsVersion is written to the metadata when the build carries no
// module information; keep it at the version go.mod requires.
const fallbackSopsVersion = "3.13.3"

// sopsVersion is the version of the sops library in this build, which sops
// records in the metadata of the files it writes.
func sopsVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/getsops/sops/v3" {
				if d.Replace != nil {
					d = d.Replace
				}
				if v := strings.TrimPrefix(d.Version, "v"); v != "" && v != "(devel)" {
					return v
				}
			}
		}
	}
	return fallbackSopsVersion
}
