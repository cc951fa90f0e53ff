package gitsync

// The two signature formats (SSH sshsig, OpenPGP) and the trusted keys they are checked against.

import (
	"bytes"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

func verifySSH(c *object.Commit, armored string, store *trustStore) (Signer, error) {
	if rest := afterArmorEnd(armored, "-----END SSH SIGNATURE-----"); strings.TrimSpace(rest) != "" {
		return Signer{}, badSignature(nil, "malformed ssh signature: data after the armored block")
	}
	sig, err := sshsig.Unarmor([]byte(armored))
	if err != nil {
		return Signer{}, badSignature(err, "malformed ssh signature")
	}
	fp := ssh.FingerprintSHA256(sig.PublicKey)
	if err := checkSSHKey(sig.PublicKey); err != nil {
		return Signer{}, badSignature(nil, "ssh signature by key %s refused: %s", fp, err)
	}
	if sig.PublicKey.Type() == ssh.KeyAlgoRSA &&
		sig.Signature.Format != ssh.KeyAlgoRSASHA256 && sig.Signature.Format != ssh.KeyAlgoRSASHA512 {
		return Signer{}, badSignature(nil, "ssh signature by key %s refused: rsa signature algorithm %q (want %s or %s)",
			fp, sig.Signature.Format, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSASHA512)
	}
	if sig.HashAlgorithm != sshsig.HashSHA256 && sig.HashAlgorithm != sshsig.HashSHA512 {
		return Signer{}, badSignature(nil, "ssh signature by key %s refused: hash algorithm %q", fp, sig.HashAlgorithm)
	}
	if sig.Namespace != sshNamespace {
		return Signer{}, badSignature(nil, "ssh signature by key %s is for namespace %q, not %q", fp, sig.Namespace, sshNamespace)
	}
	var trusted ssh.PublicKey
	want := sig.PublicKey.Marshal()
	for _, k := range store.ssh {
		if bytes.Equal(k.Marshal(), want) {
			trusted = k
			break
		}
	}
	if trusted == nil {
		return Signer{}, untrustedf("signed by untrusted ssh key %s (%s)", fp, sig.PublicKey.Type())
	}
	msg, err := payload(c)
	if err != nil {
		return Signer{}, err
	}
	if err := sshsig.Verify(bytes.NewReader(msg), sig, trusted, sig.HashAlgorithm, sshNamespace); err != nil {
		return Signer{}, badSignature(err, "ssh signature by key %s does not verify", fp)
	}
	return Signer{Kind: SignerSSH, KeyID: fp}, nil
}

// afterArmorEnd returns what follows the end line of an armored block.
func afterArmorEnd(armored, endLine string) string {
	i := strings.Index(armored, endLine)
	if i < 0 {
		return ""
	}
	return armored[i+len(endLine):]
}

func verifyOpenPGP(c *object.Commit, armored string, store *trustStore) (Signer, error) {
	if rest := afterArmorEnd(armored, "-----END PGP SIGNATURE-----"); strings.TrimSpace(rest) != "" {
		return Signer{}, badSignature(nil, "malformed openpgp signature: data after the armored block")
	}
	keyID, err := openPGPIssuer(armored)
	if err != nil {
		return Signer{}, err
	}
	if len(store.pgp) == 0 {
		return Signer{}, untrustedf("signed by untrusted openpgp key %s (no openpgp keys are trusted)", keyID)
	}
	// Verify uses the signature from the gpgsig header as parsed here (the
	// same bytes go-git reads) over the payload without signature headers.
	cc := *c
	cc.PGPSignature = armored
	var firstErr error
	for _, ring := range store.pgp {
		_, err := cc.Verify(ring)
		if err == nil {
			return Signer{Kind: SignerOpenPGP, KeyID: keyID}, nil
		}
		if errors.Is(err, pgperrors.ErrUnknownIssuer) {
			continue
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	switch {
	case firstErr == nil:
		return Signer{}, untrustedf("signed by untrusted openpgp key %s", keyID)
	case errors.Is(firstErr, pgperrors.ErrKeyExpired), errors.Is(firstErr, pgperrors.ErrKeyRevoked):
		return Signer{}, &verifyError{kind: ErrUntrusted, msg: fmt.Sprintf("openpgp key %s is not valid", keyID), cause: firstErr}
	case errors.Is(firstErr, object.ErrMultipleSignatures):
		return Signer{}, badSignature(nil, "more than one signature")
	default:
		return Signer{}, badSignature(firstErr, "openpgp signature by key %s does not verify", keyID)
	}
}

// openPGPIssuer returns the key id that made the armored signature, which
// must hold exactly one signature packet.
func openPGPIssuer(armored string) (string, error) {
	block, err := armor.Decode(strings.NewReader(armored))
	if err != nil {
		return "", badSignature(err, "malformed openpgp signature")
	}
	if block.Type != openpgp.SignatureType {
		return "", badSignature(nil, "malformed openpgp signature: armored block is %q", block.Type)
	}
	packets := packet.NewReader(block.Body)
	var sig *packet.Signature
	for {
		p, err := packets.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", badSignature(err, "malformed openpgp signature")
		}
		s, ok := p.(*packet.Signature)
		if !ok {
			return "", badSignature(nil, "malformed openpgp signature: unexpected %T packet", p)
		}
		if sig != nil {
			return "", badSignature(nil, "more than one signature (several openpgp signature packets)")
		}
		sig = s
	}
	switch {
	case sig == nil:
		return "", badSignature(nil, "malformed openpgp signature: no signature packet")
	case sig.IssuerKeyId != nil:
		return fmt.Sprintf("%016X", *sig.IssuerKeyId), nil
	case len(sig.IssuerFingerprint) >= 8:
		return fmt.Sprintf("%X", sig.IssuerFingerprint), nil
	default:
		return "", badSignature(nil, "malformed openpgp signature: no issuer")
	}
}

// trustStore is TrustedKeys parsed and checked.
type trustStore struct {
	pgp []string // one armored public keyring per entry
	ssh []ssh.PublicKey
}

func parseTrust(t TrustedKeys) (*trustStore, error) {
	s := &trustStore{}
	for i, ring := range t.OpenPGP {
		blocks, err := splitArmored(ring)
		if err != nil {
			return nil, fmt.Errorf("invalid trusted openpgp keyring %d: %w", i+1, err)
		}
		for _, b := range blocks {
			if err := checkPublicKeyring(b); err != nil {
				return nil, fmt.Errorf("invalid trusted openpgp keyring %d: %w", i+1, err)
			}
			s.pgp = append(s.pgp, b)
		}
	}
	for i, text := range t.SSH {
		rest := []byte(text)
		for len(bytes.TrimSpace(rest)) > 0 {
			pub, _, options, next, err := ssh.ParseAuthorizedKey(rest)
			if err != nil {
				return nil, fmt.Errorf("invalid trusted ssh key %d: %w", i+1, err)
			}
			rest = next
			for _, o := range options {
				if strings.EqualFold(o, "cert-authority") {
					return nil, fmt.Errorf("invalid trusted ssh key %d (%s): cert-authority keys are not supported", i+1, ssh.FingerprintSHA256(pub))
				}
			}
			if err := checkSSHKey(pub); err != nil {
				return nil, fmt.Errorf("invalid trusted ssh key %d (%s): %w", i+1, ssh.FingerprintSHA256(pub), err)
			}
			s.ssh = append(s.ssh, pub)
		}
	}
	if len(s.pgp) == 0 && len(s.ssh) == 0 {
		return nil, errors.New("no trusted keys given")
	}
	return s, nil
}

// splitArmored splits text into its armored blocks ("-----BEGIN X-----" to
// "-----END X-----"), refusing anything else but whitespace around them.
func splitArmored(text string) ([]string, error) {
	var blocks []string
	var cur []string
	var end string
	for _, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur == nil {
			if trimmed == "" {
				continue
			}
			kind, ok := strings.CutPrefix(trimmed, "-----BEGIN ")
			if !ok || !strings.HasSuffix(kind, "-----") {
				return nil, errors.New("not an armored openpgp public key block")
			}
			end = "-----END " + kind
			cur = []string{trimmed}
			continue
		}
		cur = append(cur, line)
		if trimmed == end {
			blocks = append(blocks, strings.Join(cur, "\n")+"\n")
			cur = nil
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("unterminated armored block (missing %q)", end)
	}
	if len(blocks) == 0 {
		return nil, errors.New("no armored key block")
	}
	return blocks, nil
}

func checkPublicKeyring(armored string) error {
	block, err := armor.Decode(strings.NewReader(armored))
	if err != nil {
		return err
	}
	if block.Type == openpgp.PrivateKeyType {
		return errors.New("the armored block is a private key (give public keys only)")
	}
	if block.Type != openpgp.PublicKeyType {
		return fmt.Errorf("armored block is %q, want %q (give public keys only)", block.Type, openpgp.PublicKeyType)
	}
	entities, err := openpgp.ReadKeyRing(block.Body)
	if err != nil {
		return err
	}
	if len(entities) == 0 {
		return errors.New("no keys in the keyring")
	}
	for _, e := range entities {
		if e.PrivateKey != nil {
			return errors.New("the keyring holds a private key (give public keys only)")
		}
	}
	return nil
}

// checkSSHKey refuses key types and sizes that are not accepted for signing.
func checkSSHKey(pub ssh.PublicKey) error {
	if _, ok := pub.(*ssh.Certificate); ok {
		return errors.New("ssh certificates are not supported")
	}
	switch pub.Type() {
	case ssh.KeyAlgoDSA:
		return errors.New("dsa keys are not accepted")
	case ssh.KeyAlgoRSA:
		cp, ok := pub.(ssh.CryptoPublicKey)
		if !ok {
			return errors.New("unreadable rsa key")
		}
		rk, ok := cp.CryptoPublicKey().(*rsa.PublicKey)
		if !ok {
			return errors.New("unreadable rsa key")
		}
		if rk.N.BitLen() < minRSABits {
			return fmt.Errorf("rsa keys shorter than %d bits are not accepted", minRSABits)
		}
	}
	return nil
}
