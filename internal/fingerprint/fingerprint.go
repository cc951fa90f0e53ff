// Package fingerprint identifies secret values without revealing them: a
// fingerprint is an HMAC-SHA256 of the value under a random per-install key
// kept in the state directory, so fingerprints can be logged and journaled,
// but cannot be checked against guessed values without the key.
package fingerprint

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/rekeyhq/rekey/internal/fsx"
)

const (
	// KeyFile is the name of the key file in the state directory.
	KeyFile = "fingerprint.key"
	// KeySize is the length of the key in bytes.
	KeySize = 32
	// Prefix starts every fingerprint.
	Prefix = "hmac:"
	// hexLen is the number of hex characters kept from the MAC: 64 bits. A
	// fingerprint only has to tell one value of a secret from another; an
	// accidental match has probability 2^-64 per comparison, and without the
	// key nobody can search for values that match.
	hexLen = 16
)

// Key is the per-install fingerprint key. The zero Key is not usable. Its
// String and GoString methods never print the key.
type Key struct {
	b   [KeySize]byte
	set bool
}

// LoadOrCreateKey returns the key stored in <stateDir>/fingerprint.key,
// creating it (32 random bytes, mode 0600, O_EXCL, linked into place so that
// it never appears partially written) if missing, and the state
// directory (mode 0700) if missing. It refuses a key file that group or
// others may access, and a file of the wrong size.
func LoadOrCreateKey(stateDir string) (Key, error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return Key{}, fmt.Errorf("failed to create state directory %s: %w", stateDir, err)
	}
	path := filepath.Join(stateDir, KeyFile)

	k, err := load(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}

	var b [KeySize]byte
	if _, err := io.ReadFull(rand.Reader, b[:]); err != nil {
		return Key{}, fmt.Errorf("failed to generate fingerprint key: %w", err)
	}
	// Write the key under a temporary name, then link it into place: the key
	// file appears complete or not at all, even with concurrent callers or a
	// crash, and link fails if another caller created it first.
	var suffix [8]byte
	if _, err := io.ReadFull(rand.Reader, suffix[:]); err != nil {
		return Key{}, fmt.Errorf("failed to generate fingerprint key: %w", err)
	}
	tmp := path + ".tmp-" + hex.EncodeToString(suffix[:])
	if err := fsx.CreateFile(tmp, b[:], 0o600); err != nil {
		return Key{}, fmt.Errorf("failed to create fingerprint key: %w", err)
	}
	err = os.Link(tmp, path)
	_ = os.Remove(tmp)
	switch {
	case err == nil:
		return Key{b: b, set: true}, nil
	case errors.Is(err, fs.ErrExist):
		return load(path) // another caller won the race
	default:
		return Key{}, fmt.Errorf("failed to create fingerprint key %s: %w", path, err)
	}
}

func load(path string) (Key, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Key{}, err
		}
		if errors.Is(err, syscall.ELOOP) {
			return Key{}, fmt.Errorf("fingerprint key %s is a symlink: replace it with the file it points to", path)
		}
		return Key{}, fmt.Errorf("failed to open fingerprint key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Key{}, fmt.Errorf("failed to stat fingerprint key %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return Key{}, fmt.Errorf("fingerprint key %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return Key{}, fmt.Errorf("fingerprint key %s has mode %#o, open to group or others: run chmod 600 %s", path, perm, path)
	}
	var b [KeySize]byte
	n, err := io.ReadFull(f, b[:])
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return Key{}, fmt.Errorf("fingerprint key %s holds %d bytes, want %d: it is not a rekey key (remove it to create a new one; recorded fingerprints will no longer match)", path, n, KeySize)
	case err != nil:
		return Key{}, fmt.Errorf("failed to read fingerprint key %s: %w", path, err)
	}
	if extra, _ := f.Read(make([]byte, 1)); extra != 0 {
		return Key{}, fmt.Errorf("fingerprint key %s is longer than %d bytes: it is not a rekey key", path, KeySize)
	}
	return Key{b: b, set: true}, nil
}

// Of returns the fingerprint of value: "hmac:" followed by the first 16 hex
// characters (64 bits) of HMAC-SHA256(key, value). It panics on the zero Key.
func (k Key) Of(value string) string {
	return Prefix + hex.EncodeToString(k.mac(value)[:hexLen/2])
}

// Equal reports whether fp is the fingerprint of value, in constant time.
func (k Key) Equal(value, fp string) bool {
	want := k.Of(value)
	return subtle.ConstantTimeCompare([]byte(want), []byte(fp)) == 1
}

func (k Key) mac(value string) []byte {
	if !k.set {
		panic("fingerprint: use of the zero Key")
	}
	h := hmac.New(sha256.New, k.b[:])
	h.Write([]byte(value))
	return h.Sum(nil)
}

// String hides the key.
func (k Key) String() string { return "fingerprint.Key(redacted)" }

// GoString hides the key.
func (k Key) GoString() string { return "fingerprint.Key(redacted)" }
