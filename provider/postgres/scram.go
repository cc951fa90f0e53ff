package postgres

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// SCRAM-SHA-256 verifiers as PostgreSQL stores them in pg_authid.rolpassword (RFC 5802, RFC 7677):
//
//	SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>
//
// rekey computes them itself and sends only the verifier in ALTER ROLE … PASSWORD, so that the value
// never reaches the server as plaintext: even a logged statement holds nothing a client can log in with.
const (
	scramIterations = 4096 // PostgreSQL's default (scram_iterations, 16+; fixed before)
	scramSaltLen    = 16   // PostgreSQL's SCRAM_DEFAULT_SALT_LEN
	scramPrefix     = "SCRAM-SHA-256$"
)

// verifier is a parsed SCRAM-SHA-256 verifier.
type verifier struct {
	iterations int
	salt       []byte
	storedKey  []byte
	serverKey  []byte
}

// scramKeys derives StoredKey and ServerKey from a password, as client and server both do.
func scramKeys(password string, salt []byte, iterations int) (storedKey, serverKey []byte, err error) {
	salted, err := pbkdf2.Key(sha256.New, saslprep(password), salt, iterations, sha256.Size)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to derive the SCRAM keys: %w", err)
	}
	clientKey := hmacSHA256(salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	return stored[:], hmacSHA256(salted, "Server Key"), nil
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// newVerifier computes the verifier of password with a fresh random salt.
func newVerifier(password string) (string, error) {
	salt := make([]byte, scramSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("failed to draw a salt: %w", err)
	}
	return buildVerifier(password, salt, scramIterations)
}

func buildVerifier(password string, salt []byte, iterations int) (string, error) {
	stored, server, err := scramKeys(password, salt, iterations)
	if err != nil {
		return "", err
	}
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("%s%d:%s$%s:%s", scramPrefix, iterations, b64(salt), b64(stored), b64(server)), nil
}

// parseVerifier reads a SCRAM-SHA-256 verifier; ok is false for anything else (md5, plaintext, NULL).
func parseVerifier(s string) (v verifier, ok bool) {
	rest, found := strings.CutPrefix(s, scramPrefix)
	if !found {
		return v, false
	}
	params, keys, found := strings.Cut(rest, "$")
	if !found {
		return v, false
	}
	iter, salt, found := strings.Cut(params, ":")
	if !found {
		return v, false
	}
	stored, server, found := strings.Cut(keys, ":")
	if !found {
		return v, false
	}
	n, err := strconv.Atoi(iter)
	if err != nil || n <= 0 {
		return v, false
	}
	dec := base64.StdEncoding.DecodeString
	v.iterations = n
	var e1, e2, e3 error
	v.salt, e1 = dec(salt)
	v.storedKey, e2 = dec(stored)
	v.serverKey, e3 = dec(server)
	if e1 != nil || e2 != nil || e3 != nil || len(v.salt) == 0 || len(v.storedKey) != sha256.Size || len(v.serverKey) != sha256.Size {
		return verifier{}, false
	}
	return v, true
}

// accepts reports whether the stored password of role (pg_authid.rolpassword) accepts password: by
// recomputing the SCRAM keys with the verifier's salt and iterations, or, for a legacy md5 hash, the
// hash. The comparison is constant-time; nothing about either value is ever returned.
func accepts(stored, role, password string) bool {
	if v, ok := parseVerifier(stored); ok {
		sk, srv, err := scramKeys(password, v.salt, v.iterations)
		if err != nil {
			return false
		}
		return subtle.ConstantTimeCompare(sk, v.storedKey) == 1 && subtle.ConstantTimeCompare(srv, v.serverKey) == 1
	}
	if rest, ok := strings.CutPrefix(stored, "md5"); ok && len(rest) == 32 {
		// md5 hashes the password and the role name, with no SASLprep.
		sum := md5.Sum([]byte(password + role))
		return subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(rest)) == 1
	}
	return false
}
