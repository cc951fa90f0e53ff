package sopsio

// Reason classifies why a SOPS document could not be decrypted (or encrypted).
type Reason string

// The reasons of an *Error.
const (
	// ReasonMalformed: the input is not a valid document of its format, its
	// sops metadata is invalid, or (for DecryptValues) it is not a flat map
	// of string values.
	ReasonMalformed Reason = "malformed"
	// ReasonMACMismatch: a value, a key name, the MAC or lastmodified was
	// changed after encryption.
	ReasonMACMismatch Reason = "mac-mismatch"
	// ReasonNoMatchingKey: none of the given age identities can unwrap the
	// data key (wrong key, or no key given).
	ReasonNoMatchingKey Reason = "no-matching-key"
	// ReasonNotEncrypted: the document has no sops metadata.
	ReasonNotEncrypted Reason = "not-encrypted"
	// ReasonUnsupportedKeys (FileRecipients): the data key is also encrypted
	// to keys other than age recipients (PGP, KMS, Vault, ...) or split into
	// several key groups; rekey cannot re-encrypt the document without
	// dropping those readers.
	ReasonUnsupportedKeys Reason = "unsupported-keys"
)

// Error is the error of Decrypt, DecryptValues, FileRecipients and, for
// malformed input, Encrypt. Use errors.As to get it. Its message names the
// file and, where it helps, keys and age public keys; it never contains a
// value.
type Error struct {
	Reason Reason
	// Path is the file the document came from; empty for Decrypt and Encrypt,
	// which only see bytes (callers may set it after errors.As).
	Path string
	// Err explains the failure and what to do; it never holds plaintext.
	Err error

	op string // "decrypt" when empty
}

func (e *Error) Error() string {
	op := e.op
	if op == "" {
		op = "decrypt"
	}
	subject := e.Path
	if subject == "" {
		subject = "sops document"
	}
	msg := "failed to " + op + " " + subject
	if e.Err != nil {
		return msg + ": " + e.Err.Error()
	}
	return msg + ": " + string(e.Reason)
}

// Unwrap returns e.Err.
func (e *Error) Unwrap() error { return e.Err }
