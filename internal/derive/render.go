package derive

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"text/template"

	"golang.org/x/crypto/bcrypt"
)

// Data is what a form is rendered from. Values stay in memory.
type Data struct {
	Value string // the secret's value
	Login string // the login the value logs in as ("" without a server)
	// Secret returns the value of another declared secret, for secret "name".
	Secret func(name string) (string, bool)
	// Existing is the content the rendering replaces: bcrypt keeps the cost of a hash found there, and
	// the hash itself when it already verifies the value (so a rewrite of the same value changes nothing).
	Existing string
}

// mode says what bcrypt and htpasswd produce.
type mode int

const (
	modeWrite mode = iota // real hashes
	modeProbe             // a placeholder of a hash's length: checks length and shape without hashing
	modeMatch             // a marker per hash, for Match to check against the live content
)

// Render renders the form for writing.
func (f *Form) Render(d Data) (string, error) {
	out, _, err := f.exec(d, modeWrite)
	return out, err
}

// Probe renders the form without computing hashes: the shape and length of what Render would write, for
// the checks made before anything is written (empty, too long, a newline in a variable).
func (f *Form) Probe(d Data) (string, error) {
	out, _, err := f.exec(d, modeProbe)
	return out, err
}

// hashed is a value a bcrypt or htpasswd call hashed, in modeMatch.
type hashed struct {
	user  string // htpasswd only
	value string
}

func (f *Form) exec(d Data, m mode) (string, []hashed, error) {
	var hashes []hashed
	existing := hashesIn(d.Existing)
	hash := func(v string) (string, error) {
		switch m {
		case modeProbe:
			return "$2y$10$" + strings.Repeat(".", 53), nil
		case modeMatch:
			hashes = append(hashes, hashed{value: v})
			return marker(len(hashes) - 1), nil
		}
		return bcryptHash(v, existing)
	}
	funcs := template.FuncMap{
		FuncURLQuery: URLPassword,
		FuncURLUser:  URLUser,
		FuncBcrypt:   hash,
		FuncHtpasswd: func(user, v string) (string, error) {
			if strings.ContainsAny(user, ":\n\r") || user == "" {
				return "", fmt.Errorf("htpasswd: the user name must be non-empty, without ':' or a line break")
			}
			h, err := hash(v)
			if m == modeWrite || m == modeProbe {
				h = strings.Replace(h, "$2a$", "$2y$", 1)
			}
			if m == modeMatch {
				hashes[len(hashes)-1].user = user
			}
			return user + ":" + h, err
		},
		FuncBase64: func(v string) string { return base64.StdEncoding.EncodeToString([]byte(v)) },
		FuncSHA256: func(v string) string { h := sha256.Sum256([]byte(v)); return hex.EncodeToString(h[:]) },
		FuncJSON:   JSONString,
		FuncYAML:   YAMLString,
		FuncSecret: func(name string) (string, error) {
			if d.Secret == nil {
				return "", fmt.Errorf("secret %q: no other secret is known here", name)
			}
			v, ok := d.Secret(name)
			if !ok || v == "" {
				return "", fmt.Errorf("secret %q has no value", name)
			}
			return v, nil
		},
	}
	t := template.New("form").Funcs(funcs).Option("missingkey=error")
	t, err := t.AddParseTree("form", f.tree)
	if err != nil {
		return "", nil, fmt.Errorf("the template does not parse: %s", cleanParseError(err))
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, map[string]string{FieldValue: d.Value, FieldLogin: d.Login}); err != nil {
		return "", nil, fmt.Errorf("the template failed: %s", execError(err))
	}
	return buf.String(), hashes, nil
}

// execError keeps the function's own message: text/template's prefix names its internals only, and the
// error never carries a value (the functions do not put one in).
func execError(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, "error calling "); i >= 0 {
		return s[i+len("error calling "):]
	}
	return strings.TrimPrefix(s, "template: ")
}

// URLPassword escapes v for the password of a URL's user-info, as url.UserPassword does: '@', ':',
// '/', '?', '#', '%' and the like are percent-encoded, a space too, but '+' and '&' stay as they are.
// QueryEscape would turn a space into '+', which a URL parser reads back as a '+'.
func URLPassword(v string) string {
	return strings.TrimPrefix(url.UserPassword("", v).String(), ":")
}

// URLUser escapes v for the user name of a URL's user-info (url.User).
func URLUser(v string) string { return url.User(v).String() }

// JSONString is v as a JSON string literal, quotes included, without HTML escaping.
func JSONString(v string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // a string always encodes (invalid UTF-8 becomes U+FFFD)
	return strings.TrimSuffix(buf.String(), "\n")
}

// YAMLString is v as a YAML double-quoted scalar, quotes included: '"' and '\\' escaped, and every
// character YAML does not allow printed (C0 and C1 controls, DEL, U+FEFF, surrogates, U+FFFE/U+FFFF)
// written as an escape. Invalid UTF-8 becomes U+FFFD.
func YAMLString(v string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range v {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case yamlPrintable(r):
			b.WriteRune(r)
		case r <= 0xff:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// yamlPrintable is YAML 1.2's c-printable, less the byte-order mark.
func yamlPrintable(r rune) bool {
	return r >= 0x20 && r <= 0x7e || r == 0x85 || r >= 0xa0 && r <= 0xd7ff ||
		r >= 0xe000 && r <= 0xfffd && r != 0xfeff || r >= 0x10000 && r <= 0x10ffff
}

// bcryptHashRe finds bcrypt hashes: $2a$, $2b$, $2x$ or $2y$, a two-digit cost, 53 characters.
var bcryptHashRe = regexp.MustCompile(`\$2[abxy]\$[0-9]{2}\$[./A-Za-z0-9]{53}`)

func hashesIn(s string) []string { return bcryptHashRe.FindAllString(s, -1) }

// bcryptHash reuses an existing hash that verifies v, or hashes v with the cost of the first existing
// hash (the operator chose it), else bcrypt's default.
func bcryptHash(v string, existing []string) (string, error) {
	cost := bcrypt.DefaultCost
	for i, h := range existing {
		if bcrypt.CompareHashAndPassword([]byte(h), []byte(v)) == nil {
			return h, nil
		}
		if c, err := bcrypt.Cost([]byte(h)); err == nil && i == 0 {
			cost = c
		}
	}
	out, err := bcrypt.GenerateFromPassword([]byte(v), cost)
	if errors.Is(err, bcrypt.ErrPasswordTooLong) {
		return "", fmt.Errorf("bcrypt: the value is longer than 72 bytes, which bcrypt cannot hash")
	}
	if err != nil {
		return "", fmt.Errorf("bcrypt: %w", err)
	}
	return string(out), nil
}

// marker stands for the i-th hash in a rendering for Match: NUL bytes never occur in a form.
func marker(i int) string { return fmt.Sprintf("\x00hash%d\x00", i) }
