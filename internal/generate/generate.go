// Package generate makes new secret values from crypto/rand.
package generate

import (
	"crypto/rand"
	"fmt"
	"math/big"
)

var charsets = map[string]string{
	"alnum":     "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
	"hex":       "0123456789abcdef",
	"base64url": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
}

// Value returns length characters drawn uniformly from charset ("" = alnum; length 0 = 32). Every
// charset is safe unquoted in a .env file and in a URL.
func Value(length int, charset string) (string, error) {
	if length == 0 {
		length = 32
	}
	if charset == "" {
		charset = "alnum"
	}
	alphabet, ok := charsets[charset]
	if !ok {
		return "", fmt.Errorf("unknown charset %q", charset)
	}
	n := big.NewInt(int64(len(alphabet)))
	out := make([]byte, length)
	for i := range out {
		k, err := rand.Int(rand.Reader, n) // uniform: no modulo bias
		if err != nil {
			return "", fmt.Errorf("failed to read random bytes: %w", err)
		}
		out[i] = alphabet[k.Int64()]
	}
	return string(out), nil
}
