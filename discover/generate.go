package discover

import (
	"math"
	"net/url"
	"regexp"
	"strings"

	"github.com/rekeyhq/rekey/config"
)

// fixedPrefix is a fixed text in front of a random key (sk_live_, ghp_, xoxb-, base64:).
var fixedPrefix = regexp.MustCompile(`^(?:[a-z]{2,8}_(?:live_|test_)?|xox[abpr]-|base64:)`)

// deriveGenerate proposes how rekey makes new values for a secret so they keep the shape of the current
// one (its charset, a fixed prefix, the text around a URL's password) and are never weaker: at least as
// many bits as the current value, and never fewer than rekey's default 32 characters.
func deriveGenerate(value string) *config.Generate {
	random, format := value, ""
	if u, err := url.Parse(strings.TrimSpace(value)); err == nil && u.Scheme != "" && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" && strings.Count(value, pw) == 1 {
			random, format = pw, strings.Replace(value, pw, "{value}", 1)
		}
	} else if p := fixedPrefix.FindString(value); p != "" && len(value)-len(p) >= 16 {
		random, format = value[len(p):], p+"{value}"
	}
	if strings.Contains(format, "{value}") && strings.Count(format, "{value}") != 1 {
		random, format = value, ""
	}
	charset, bits := charsetOf(random)
	perChar := map[string]float64{"hex": 4, "alnum": math.Log2(62), "base64url": 6}[charset]
	length := int(math.Ceil(float64(len(random)) * bits / perChar))
	length = min(max(length, len(random), 32), 4096)
	if charset == "alnum" {
		charset = "" // the default: written only when it says something
	}
	return &config.Generate{Length: length, Charset: charset, Format: format}
}

// charsetOf is the narrowest generate charset that can stand for s, and the bits per character of the
// alphabet s seems drawn from.
func charsetOf(s string) (string, float64) {
	var lower, upper, dashUnderscore, other bool
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'f', r >= '0' && r <= '9':
		case r >= 'g' && r <= 'z':
			lower = true
		case r >= 'A' && r <= 'Z':
			upper = true
		case r == '-' || r == '_':
			dashUnderscore = true
		default:
			other = true
		}
	}
	switch {
	case other:
		return "base64url", math.Log2(94) // printable ASCII: rekey writes base64url, longer
	case dashUnderscore:
		return "base64url", 6
	case !lower && !upper:
		return "hex", 4
	}
	return "alnum", math.Log2(62)
}
