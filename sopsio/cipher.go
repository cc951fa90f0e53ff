package sopsio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/getsops/sops/v3/aes"
)

// recordingCipher is the sops AES-GCM cipher that remembers the key path of
// the last value it failed on, so that errors can name the key instead of
// passing on sops' errors, which may quote the value.
type recordingCipher struct {
	aes.Cipher
	failed string // "a:b:" additional data of the last failure, or ""
}

func newCipher() *recordingCipher { return &recordingCipher{Cipher: aes.NewCipher()} }

func (c *recordingCipher) Decrypt(ciphertext string, key []byte, additionalData string) (any, error) {
	v, err := c.Cipher.Decrypt(ciphertext, key, additionalData)
	c.record(additionalData, err)
	return v, err
}

func (c *recordingCipher) Encrypt(plaintext any, key []byte, additionalData string) (string, error) {
	v, err := c.Cipher.Encrypt(plaintext, key, additionalData)
	c.record(additionalData, err)
	return v, err
}

func (c *recordingCipher) record(additionalData string, err error) {
	if err != nil {
		c.failed = additionalData
	} else {
		c.failed = ""
	}
}

// failedKey returns the key path of the last failure, like "db:password", or
// "" if the last call succeeded.
func (c *recordingCipher) failedKey() string {
	return strings.TrimSuffix(c.failed, ":")
}

var yamlLineRE = regexp.MustCompile(`\bline (\d+)\b`)

// syntaxError describes why data is not a valid document of format f. The
// error of the sops store (err) may quote the document, so only a line number
// is taken from it.
func syntaxError(f Format, data []byte, err error) error {
	switch f {
	case FormatDotenv:
		for i, line := range bytes.Split(data, []byte("\n")) {
			if len(line) == 0 || line[0] == '#' {
				continue
			}
			if !bytes.Contains(line, []byte("=")) {
				return fmt.Errorf("line %d is not KEY=value", i+1)
			}
		}
	case FormatJSON:
		var v any
		var se *json.SyntaxError
		if jerr := json.Unmarshal(data, &v); errors.As(jerr, &se) {
			line := 1 + bytes.Count(data[:min(int(se.Offset), len(data))], []byte("\n"))
			return fmt.Errorf("not valid JSON (line %d)", line)
		} else if jerr == nil {
			if _, ok := v.(map[string]any); !ok {
				return errors.New("not a JSON object: sops needs a top-level object")
			}
		}
		return errors.New("not a valid JSON document")
	case FormatYAML:
		msg := err.Error()
		switch {
		case strings.Contains(msg, "YAML documents that are sequences are not supported"):
			return errors.New("not a YAML mapping: sops needs a top-level mapping, not a sequence")
		case strings.Contains(msg, "YAML documents that are values are not supported"):
			return errors.New("not a YAML mapping: sops needs a top-level mapping, not a single value")
		}
		if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
			return fmt.Errorf("not valid YAML (line %s)", m[1])
		}
		return errors.New("not valid YAML")
	}
	return fmt.Errorf("not a valid %s document", f)
}
