package gitsync

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
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// Commit signature verification.
//
// A commit is accepted only when it carries exactly one signature, in its
// gpgsig (or gpgsig-sha256) header, that verifies over the commit without
// its signature headers and was made by one of the trusted keys. OpenPGP
// signatures are checked by go-git's Commit.Verify; SSH signatures (the
// sshsig format git writes with gpg.format=ssh) must use the "git"
// namespace, a sha256 or sha512 message hash, and a key that is not DSA (RSA
// keys sign with rsa-sha2-256 or rsa-sha2-512, never SHA-1 ssh-rsa).

// ErrUnsigned is matched (errors.Is) by verification errors for a commit
// that carries no signature.
var ErrUnsigned = errors.New("commit is not signed")

// ErrUntrusted is matched (errors.Is) by verification errors for a commit
// signed by a key that is not one of the trusted keys (or whose OpenPGP key
// has expired or been revoked).
var ErrUntrusted = errors.New("signing key is not trusted")

// ErrBadSignature is matched (errors.Is) by verification errors for a
// signature that does not verify (tampered content, wrong namespace), that
// cannot be parsed, that uses a refused algorithm, or for a commit carrying
// more than one signature.
var ErrBadSignature = errors.New("bad signature")

// Signer kinds.
const (
	SignerOpenPGP = "openpgp"
	SignerSSH     = "ssh"
)

// sshNamespace is the sshsig namespace git signs commits in.
const sshNamespace = "git"

// minRSABits is the smallest RSA modulus accepted for SSH signing keys.
const minRSABits = 2048

// TrustedKeys are the keys whose commit signatures are accepted.
type TrustedKeys struct {
	// OpenPGP holds armored public keyrings ("-----BEGIN PGP PUBLIC KEY
	// BLOCK-----"); one string may hold several armored blocks. Private
	// keys are refused.
	OpenPGP []string
	// SSH holds public keys in authorized_keys format, one key a line; one
	// string may hold several lines. Blank lines and # comments are
	// skipped, options are ignored except cert-authority, which is refused
	// (SSH certificates are not supported), as are DSA keys and RSA keys
	// shorter than 2048 bits.
	SSH []string
}

// Signer identifies the trusted key that signed a commit.
type Signer struct {
	// Kind is "openpgp" or "ssh".
	Kind string
	// KeyID is the OpenPGP key id of the signing (sub)key as 16 uppercase
	// hex digits, or the SSH key fingerprint (SHA256:…).
	KeyID string
}

// verifyError is a verification failure: its message, the sentinel it
// matches and, optionally, the underlying error.
type verifyError struct {
	kind  error
	msg   string
	cause error
}

func (e *verifyError) Error() string {
	if e.cause != nil {
		return e.msg + ": " + e.cause.Error()
	}
	return e.msg
}

func (e *verifyError) Unwrap() []error {
	if e.cause != nil {
		return []error{e.kind, e.cause}
	}
	return []error{e.kind}
}

func unsigned() error { return &verifyError{kind: ErrUnsigned, msg: ErrUnsigned.Error()} }

func untrustedf(format string, args ...any) error {
	return &verifyError{kind: ErrUntrusted, msg: fmt.Sprintf(format, args...)}
}

func badSignature(cause error, format string, args ...any) error {
	return &verifyError{kind: ErrBadSignature, msg: fmt.Sprintf(format, args...), cause: cause}
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

// VerifyCommit verifies the signature of the commit named by hash (full or
// abbreviated) against trust and returns the trusted key that made it. A
// commit without signature is an error matching ErrUnsigned, one signed by a
// key outside trust an error matching ErrUntrusted, and a signature that does
// not verify (or more than one signature) an error matching ErrBadSignature.
func (r *Repo) VerifyCommit(hash string, trust TrustedKeys) (Signer, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	store, err := parseTrust(trust)
	if err != nil {
		return Signer{}, fmt.Errorf("failed to verify commit %s in %s: %w", shortHash(hash), r.display, err)
	}
	c, err := r.commitByHash(hash)
	if err != nil {
		return Signer{}, fmt.Errorf("failed to verify commit %s in %s: %w", shortHash(hash), r.display, err)
	}
	s, err := r.verify(c, store)
	if err != nil {
		return Signer{}, fmt.Errorf("failed to verify commit %s in %s: %w", shortHash(c.Hash.String()), r.display, err)
	}
	return s, nil
}

// VerifyRange verifies every commit reachable from to and not from from
// (both full or abbreviated hashes), parents before children, and returns
// their signers in that order. from == "" verifies to alone. to itself is
// always verified, even when it is reachable from from (a move back to an
// older commit). The first failure stops the walk with an error naming the
// commit (and matching ErrUnsigned, ErrUntrusted or ErrBadSignature as
// VerifyCommit's); the slice is then nil.
func (r *Repo) VerifyRange(from, to string, trust TrustedKeys) ([]Signer, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	store, err := parseTrust(trust)
	if err != nil {
		return nil, fmt.Errorf("failed to verify commits in %s: %w", r.display, err)
	}
	head, err := r.commitByHash(to)
	if err != nil {
		return nil, fmt.Errorf("failed to verify commits up to %s in %s: %w", shortHash(to), r.display, err)
	}
	commits := []*object.Commit{head}
	if from != "" {
		base, err := r.commitByHash(from)
		if err != nil {
			return nil, fmt.Errorf("failed to verify commits from %s in %s: %w", shortHash(from), r.display, err)
		}
		commits, err = r.rangeCommits(base, head)
		if err != nil {
			return nil, fmt.Errorf("failed to list the commits from %s to %s in %s: %w",
				shortHash(base.Hash.String()), shortHash(head.Hash.String()), r.display, err)
		}
	}
	signers := make([]Signer, 0, len(commits))
	for _, c := range commits {
		s, err := r.verify(c, store)
		if err != nil {
			return nil, fmt.Errorf("failed to verify commit %s in %s: %w", shortHash(c.Hash.String()), r.display, err)
		}
		signers = append(signers, s)
	}
	return signers, nil
}

// rangeCommits lists the commits reachable from head and not from base,
// parents before children; head is always included (last).
func (r *Repo) rangeCommits(base, head *object.Commit) ([]*object.Commit, error) {
	excluded := map[plumbing.Hash]bool{}
	if err := r.walk(base, func(c *object.Commit) bool { excluded[c.Hash] = true; return true }); err != nil {
		return nil, err
	}
	inRange := map[plumbing.Hash]*object.Commit{}
	err := r.walk(head, func(c *object.Commit) bool {
		if excluded[c.Hash] {
			return false
		}
		inRange[c.Hash] = c
		return true
	})
	if err != nil {
		return nil, err
	}
	inRange[head.Hash] = head

	// Post-order depth-first walk over the range: a commit is emitted once
	// all its parents in the range have been.
	type frame struct {
		c    *object.Commit
		next int // index of the next parent to visit
	}
	var out []*object.Commit
	done := map[plumbing.Hash]bool{}
	stack := []frame{{c: head}}
	for len(stack) > 0 {
		top := &stack[len(stack)-1]
		if top.next < len(top.c.ParentHashes) {
			p := top.c.ParentHashes[top.next]
			top.next++
			if pc, ok := inRange[p]; ok && !done[p] {
				done[p] = true // claimed: visited once
				stack = append(stack, frame{c: pc})
			}
			continue
		}
		out = append(out, top.c)
		stack = stack[:len(stack)-1]
	}
	return out, nil
}

// walk visits start and its ancestors once each; visit returns false to not
// go past a commit.
func (r *Repo) walk(start *object.Commit, visit func(*object.Commit) bool) error {
	seen := map[plumbing.Hash]bool{start.Hash: true}
	queue := []*object.Commit{start}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if !visit(c) {
			continue
		}
		for _, p := range c.ParentHashes {
			if seen[p] {
				continue
			}
			seen[p] = true
			pc, err := r.repo.CommitObject(p)
			if err != nil {
				return fmt.Errorf("failed to read parent %s of %s: %w", p, c.Hash, err)
			}
			queue = append(queue, pc)
		}
	}
	return nil
}

// verify checks the one signature of c against store.
func (r *Repo) verify(c *object.Commit, store *trustStore) (Signer, error) {
	raw, err := r.repo.Storer.EncodedObject(plumbing.CommitObject, c.Hash)
	if err != nil {
		return Signer{}, fmt.Errorf("failed to read commit object: %w", err)
	}
	return verifyRaw(c, raw, store)
}

// verifyRaw checks the one signature of c, whose object is raw, against
// store.
func verifyRaw(c *object.Commit, raw plumbing.EncodedObject, store *trustStore) (Signer, error) {
	sigs, err := signatureHeaders(raw)
	if err != nil {
		return Signer{}, fmt.Errorf("failed to read commit object: %w", err)
	}
	switch {
	case len(sigs) == 0:
		return Signer{}, unsigned()
	case len(sigs) > 1:
		return Signer{}, badSignature(nil, "more than one signature (%d signature headers)", len(sigs))
	}
	sig := sigs[0]
	if n := countArmorBlocks(sig); n != 1 {
		if n == 0 {
			return Signer{}, badSignature(nil, "unrecognised signature (not an armored block)")
		}
		return Signer{}, badSignature(nil, "more than one signature (%d armored blocks)", n)
	}
	switch {
	case strings.HasPrefix(sig, "-----BEGIN SSH SIGNATURE-----"):
		return verifySSH(c, sig, store)
	case strings.HasPrefix(sig, "-----BEGIN PGP SIGNATURE-----"):
		return verifyOpenPGP(c, sig, store)
	default:
		first, _, _ := strings.Cut(sig, "\n")
		return Signer{}, badSignature(nil, "unsupported signature format %q", strings.TrimSpace(first))
	}
}

// signatureHeaders returns the values of the gpgsig and gpgsig-sha256
// headers of a raw commit object (continuation lines joined with "\n").
func signatureHeaders(o plumbing.EncodedObject) ([]string, error) {
	rd, err := o.Reader()
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	data, err := io.ReadAll(rd)
	if err != nil {
		return nil, err
	}
	var sigs []string
	current := -1 // index in sigs of the header being continued, or -1
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if len(line) == 0 {
			break // end of the headers
		}
		if line[0] == ' ' {
			if current >= 0 {
				sigs[current] += string(line[1:]) + "\n"
			}
			continue
		}
		key, value, _ := bytes.Cut(line, []byte{' '})
		current = -1
		if k := string(key); k == "gpgsig" || k == "gpgsig-sha256" {
			sigs = append(sigs, string(value)+"\n")
			current = len(sigs) - 1
		}
	}
	return sigs, nil
}

// countArmorBlocks counts the lines of sig that open an armored block.
func countArmorBlocks(sig string) int {
	n := 0
	for _, line := range strings.Split(sig, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "-----BEGIN ") {
			n++
		}
	}
	return n
}

// payload returns what the signature of c was computed over: the commit
// object without its signature headers.
func payload(c *object.Commit) ([]byte, error) {
	o := &plumbing.MemoryObject{}
	if err := c.EncodeWithoutSignature(o); err != nil {
		return nil, fmt.Errorf("failed to encode the signed payload: %w", err)
	}
	rd, err := o.Reader()
	if err != nil {
		return nil, fmt.Errorf("failed to encode the signed payload: %w", err)
	}
	defer rd.Close()
	b, err := io.ReadAll(rd)
	if err != nil {
		return nil, fmt.Errorf("failed to encode the signed payload: %w", err)
	}
	return b, nil
}

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

// shortHash abbreviates a commit hash for messages.
func shortHash(h string) string {
	if len(h) > 7 && isHex(h) {
		return h[:7]
	}
	return h
}
