// Package sopsio decrypts and encrypts SOPS documents (YAML, JSON and dotenv)
// with age identities and recipients passed explicitly.
//
// It uses the sops Go library (its AES-GCM cipher, its stores and its
// keyservice protocol) but never lets sops find keys on its own: the data key
// is unwrapped by a keyservice server of this package that only knows the age
// identities given by the caller. The process environment (SOPS_AGE_KEY,
// SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD, …), default key paths, PGP, SSH keys and
// cloud KMS are never consulted.
//
// Errors never contain plaintext: sops echoes parts of documents in some of
// its errors, so those are replaced by messages of this package that name
// files, lines and keys, never values.
package sopsio
