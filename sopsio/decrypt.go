package sopsio

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/getsops/sops/v3"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/keyservice"
)

// Decrypt decrypts a SOPS document with the given age identities only, verifies
// its MAC and returns the cleartext document (without the sops metadata), as
// `sops --decrypt` prints it. Failures are *Error.
func Decrypt(data []byte, format Format, ids []age.Identity) ([]byte, error) {
	tree, store, e := decrypt(data, format, ids)
	if e != nil {
		return nil, e
	}
	out, err := store.EmitPlainFile(tree.Branches)
	if err != nil {
		return nil, &Error{Reason: ReasonMalformed, Err: fmt.Errorf("the cleartext cannot be written as %s", format)}
	}
	return out, nil
}

// decrypt loads data, unwraps its data key with ids, decrypts every value and
// verifies the MAC. The returned *Error has no Path.
func decrypt(data []byte, format Format, ids []age.Identity) (*sops.Tree, sops.Store, *Error) {
	store, err := format.store()
	if err != nil {
		return nil, nil, &Error{Reason: ReasonMalformed, Err: err}
	}
	tree, err := store.LoadEncryptedFile(data)
	if err != nil {
		// Only now parse on its own: a syntax error is described without sops' text, and any other load
		// error is about the metadata. (Parsing every file twice cost a fifth of a large decrypt.)
		if _, perr := store.LoadPlainFile(data); perr != nil {
			return nil, nil, &Error{Reason: ReasonMalformed, Err: syntaxError(format, data, perr)}
		}
	}
	if errors.Is(err, sops.MetadataNotFound) {
		return nil, nil, &Error{Reason: ReasonNotEncrypted,
			Err: errors.New("the file is not encrypted with sops (it has no sops metadata); encrypt it with sops --encrypt")}
	}
	if err != nil {
		return nil, nil, &Error{Reason: ReasonMalformed, Err: metadataError(err)}
	}

	svc := &ageKeyService{ids: ids}
	key, err := tree.Metadata.GetDataKeyWithKeyServices([]keyservice.KeyServiceClient{svc.client()}, nil)
	if err != nil {
		if svc.other != nil {
			return nil, nil, &Error{Reason: ReasonMalformed, Err: svc.other}
		}
		return nil, nil, &Error{Reason: ReasonNoMatchingKey, Err: noMatchingKey(tree.Metadata, ids)}
	}

	c := newCipher()
	mac, err := tree.Decrypt(key, c)
	if err != nil {
		// sops' error may quote a value that was replaced by cleartext.
		what := "a value"
		if k := c.failedKey(); k != "" {
			what = fmt.Sprintf("the value of key %q", k)
		}
		return nil, nil, &Error{Reason: ReasonMACMismatch,
			Err: fmt.Errorf("MAC mismatch: %s does not authenticate: the file was modified after encryption (tampered?); re-encrypt it with sops", what)}
	}
	stored, err := c.Decrypt(tree.Metadata.MessageAuthenticationCode, key, tree.Metadata.LastModified.Format(time.RFC3339))
	if err != nil || stored != mac {
		return nil, nil, &Error{Reason: ReasonMACMismatch,
			Err: errors.New("MAC mismatch: the file was modified after encryption (tampered?); re-encrypt it with sops")}
	}
	return &tree, store, nil
}

// metadataError describes an invalid sops metadata entry without quoting it.
func metadataError(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "No keys found"):
		return errors.New("invalid sops metadata: it lists no keys")
	case strings.Contains(msg, "parsing time"):
		return errors.New("invalid sops metadata: lastmodified is not an RFC 3339 time")
	case strings.Contains(msg, "duplicate"):
		return errors.New("invalid sops metadata: more than one sops entry")
	}
	return errors.New("invalid sops metadata (the sops entry is corrupt or from an unsupported sops version)")
}

// noMatchingKey explains which recipients the data key is encrypted to and
// that none of ids matches. Public keys only.
func noMatchingKey(md sops.Metadata, ids []age.Identity) error {
	var ageRecipients, others []string
	for _, group := range md.KeyGroups {
		for _, k := range group {
			if ak, ok := k.(*sopsage.MasterKey); ok {
				ageRecipients = append(ageRecipients, ak.Recipient)
			} else {
				others = append(others, k.TypeToIdentifier()+" "+k.ToString())
			}
		}
	}
	if len(ageRecipients) == 0 {
		return fmt.Errorf("the file is not encrypted to any age recipient (only to %s); rekey decrypts with age keys only: add an age recipient to .sops.yaml and run sops updatekeys",
			strings.Join(others, ", "))
	}
	given := "no age identity was given"
	if len(ids) > 0 {
		var pubs []string
		for _, id := range ids {
			if x, ok := id.(*age.X25519Identity); ok {
				pubs = append(pubs, x.Recipient().String())
			}
		}
		given = fmt.Sprintf("none of the %d given age identities matches", len(ids))
		if len(pubs) == len(ids) {
			given = fmt.Sprintf("none of the given age identities (%s) matches", strings.Join(pubs, ", "))
		}
	}
	return fmt.Errorf("%s: the file is encrypted to %s; pass --age-key-file with the key of one of these recipients",
		given, strings.Join(ageRecipients, ", "))
}
