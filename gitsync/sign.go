package gitsync

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// Signing write-back commits.
//
// Commit signs with Author.Signer (SSH, the sshsig format git writes with
// gpg.format=ssh) or Author.OpenPGPKey (an armored detached OpenPGP
// signature, as git writes with gpg). Both verify with VerifyCommit once the
// public key is trusted. The key must be usable without a passphrase: rekey
// runs unattended and never prompts.

// ErrSigningKeyProtected is matched (errors.Is) by SetSigningKey and Commit
// errors for a signing key that is encrypted with a passphrase.
var ErrSigningKeyProtected = errors.New("signing key is passphrase-protected")

// protectedKey is the error for a passphrase-protected key of kind ("SSH" or
// "OpenPGP").
func protectedKey(kind string) error {
	return &signingKeyError{
		msg:  kind + " signing key is passphrase-protected; rekey needs an unprotected key file with mode 0600",
		kind: ErrSigningKeyProtected,
	}
}

type signingKeyError struct {
	msg  string
	kind error
}

func (e *signingKeyError) Error() string { return e.msg }
func (e *signingKeyError) Unwrap() error { return e.kind }

// SetSigningKey parses the private key file content key and makes it the key
// that signs a's commits, replacing any other: an armored OpenPGP private key
// ("-----BEGIN PGP PRIVATE KEY BLOCK-----", as `gpg --armor
// --export-secret-keys` writes it, holding one key) or an OpenSSH or PEM
// private key. The key must not be encrypted (errors for one that is match
// ErrSigningKeyProtected), and SSH keys that VerifyCommit would refuse (DSA,
// RSA under 2048 bits) are refused.
func (a *Author) SetSigningKey(key []byte) error {
	if bytes.HasPrefix(bytes.TrimSpace(key), []byte("-----BEGIN PGP ")) {
		e, err := parseOpenPGPSigningKey(key)
		if err != nil {
			return err
		}
		a.Signer, a.OpenPGPKey = nil, e
		return nil
	}
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return protectedKey("SSH")
		}
		return fmt.Errorf("not an unencrypted OpenSSH private key nor an armored OpenPGP private key (gpg --armor --export-secret-keys): %w", err)
	}
	if err := checkSSHKey(signer.PublicKey()); err != nil {
		return fmt.Errorf("SSH signing key %s refused: %w", ssh.FingerprintSHA256(signer.PublicKey()), err)
	}
	a.Signer, a.OpenPGPKey = signer, nil
	return nil
}

// parseOpenPGPSigningKey reads one armored OpenPGP private key that can sign.
func parseOpenPGPSigningKey(key []byte) (*openpgp.Entity, error) {
	if n := countArmorBlocks(string(key)); n != 1 {
		return nil, fmt.Errorf("the OpenPGP signing key file holds %d armored blocks; want one private key block", n)
	}
	block, err := armor.Decode(bytes.NewReader(key))
	if err != nil {
		return nil, fmt.Errorf("invalid armored OpenPGP private key: %w", err)
	}
	switch block.Type {
	case openpgp.PrivateKeyType:
	case openpgp.PublicKeyType:
		return nil, errors.New("the OpenPGP signing key is a public key; give the private key (gpg --armor --export-secret-keys KEYID)")
	default:
		return nil, fmt.Errorf("the armored block is %q, not an OpenPGP private key (%q)", block.Type, openpgp.PrivateKeyType)
	}
	entities, err := openpgp.ReadKeyRing(block.Body)
	if err != nil {
		return nil, fmt.Errorf("invalid OpenPGP private key: %w", err)
	}
	if len(entities) != 1 {
		return nil, fmt.Errorf("the OpenPGP signing key file holds %d keys; export only the one to sign with", len(entities))
	}
	e := entities[0]
	if err := checkOpenPGPSigner(e); err != nil {
		return nil, err
	}
	// Sign once now, so that a key this implementation cannot sign with is
	// refused here rather than at the first write-back.
	if err := openpgp.DetachSign(io.Discard, e, strings.NewReader("rekey"), nil); err != nil {
		return nil, fmt.Errorf("cannot sign with OpenPGP key %X: %w", e.PrimaryKey.Fingerprint, err)
	}
	return e, nil
}

// checkOpenPGPSigner checks that e has a valid signing key whose private part
// is present and not encrypted.
func checkOpenPGPSigner(e *openpgp.Entity) error {
	if e == nil || e.PrimaryKey == nil {
		return errors.New("empty OpenPGP signing key")
	}
	k, ok := e.SigningKey(time.Now())
	if !ok {
		return fmt.Errorf("OpenPGP key %X has no valid signing key (expired, revoked, or none with the sign capability)", e.PrimaryKey.Fingerprint)
	}
	switch {
	case k.PrivateKey == nil:
		return fmt.Errorf("OpenPGP key %X: the private part of its signing key %016X is missing (give the private key: gpg --armor --export-secret-keys)",
			e.PrimaryKey.Fingerprint, k.PublicKey.KeyId)
	case k.PrivateKey.Dummy():
		return fmt.Errorf("OpenPGP key %X: the private part of its signing key %016X is not in the file (a gpg stub: the key lives on a smartcard or was left out)",
			e.PrimaryKey.Fingerprint, k.PublicKey.KeyId)
	case k.PrivateKey.Encrypted:
		return protectedKey("OpenPGP")
	}
	return nil
}

// checkSigningKey checks the signing key of a before anything is written.
func checkSigningKey(a Author) error {
	switch {
	case a.Signer != nil && a.OpenPGPKey != nil:
		return errors.New("the author has both an SSH and an OpenPGP signing key; set only one")
	case a.OpenPGPKey != nil:
		return checkOpenPGPSigner(a.OpenPGPKey)
	}
	return nil
}

// signAs signs c with the key of a, if any.
func signAs(c *object.Commit, a Author) error {
	switch {
	case a.Signer != nil && a.OpenPGPKey != nil:
		return checkSigningKey(a)
	case a.Signer != nil:
		return signCommitSSH(c, a.Signer)
	case a.OpenPGPKey != nil:
		return signCommitOpenPGP(c, a.OpenPGPKey)
	}
	return nil
}

// signedPayload returns what a commit signature is made over: the commit
// without its signature.
func signedPayload(c *object.Commit) (io.ReadCloser, error) {
	payload := &plumbing.MemoryObject{}
	if err := c.EncodeWithoutSignature(payload); err != nil {
		return nil, fmt.Errorf("failed to encode the commit for signing: %w", err)
	}
	return payload.Reader()
}

// signCommitSSH adds an SSH signature over the commit as git would make it (gpg.format=ssh).
func signCommitSSH(c *object.Commit, signer ssh.Signer) error {
	rd, err := signedPayload(c)
	if err != nil {
		return err
	}
	defer rd.Close()
	sig, err := sshsig.Sign(rd, signer, sshsig.HashSHA512, sshNamespace)
	if err != nil {
		return fmt.Errorf("failed to sign the commit: %w", err)
	}
	c.PGPSignature = string(sshsig.Armor(sig))
	return nil
}

// signCommitOpenPGP adds an armored detached OpenPGP signature over the
// commit, as git makes with gpg (and go-git with CommitOptions.SignKey).
func signCommitOpenPGP(c *object.Commit, e *openpgp.Entity) error {
	if err := checkOpenPGPSigner(e); err != nil {
		return err
	}
	rd, err := signedPayload(c)
	if err != nil {
		return err
	}
	defer rd.Close()
	var sig strings.Builder
	if err := openpgp.ArmoredDetachSign(&sig, e, rd, nil); err != nil {
		return fmt.Errorf("failed to sign the commit with OpenPGP key %X: %w", e.PrimaryKey.Fingerprint, err)
	}
	c.PGPSignature = sig.String()
	return nil
}

// CheckTrusted reports whether the commits a signs would pass VerifyCommit
// with trust: it signs a sample commit with a's key and verifies it the same
// way. The error matches ErrUnsigned when a has no signing key and
// ErrUntrusted when its key is not in trust.
func (a Author) CheckTrusted(trust TrustedKeys) error {
	store, err := parseTrust(trust)
	if err != nil {
		return err
	}
	if a.Signer == nil && a.OpenPGPKey == nil {
		return &verifyError{kind: ErrUnsigned, msg: "no signing key: the commits would not be signed"}
	}
	if err := checkSigningKey(a); err != nil {
		return err
	}
	sig := object.Signature{Name: a.Name, Email: a.Email, When: time.Now()}
	c := &object.Commit{Author: sig, Committer: sig, Message: "rekey signing key check\n", TreeHash: plumbing.ComputeHash(plumbing.TreeObject, nil)}
	if err := signAs(c, a); err != nil {
		return err
	}
	raw := &plumbing.MemoryObject{}
	if err := c.Encode(raw); err != nil {
		return fmt.Errorf("failed to encode a sample commit: %w", err)
	}
	decoded := &object.Commit{}
	if err := decoded.Decode(raw); err != nil {
		return fmt.Errorf("failed to decode a sample commit: %w", err)
	}
	_, err = verifyRaw(decoded, raw, store)
	return err
}
