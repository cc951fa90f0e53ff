package gitsync

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
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

// shortHash abbreviates a commit hash for messages.
func shortHash(h string) string {
	if len(h) > 7 && isHex(h) {
		return h[:7]
	}
	return h
}
