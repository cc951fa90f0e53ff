package sopsio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"
	"go.yaml.in/yaml/v3"
)

// tricky holds values that are easy to mangle. None contains a literal
// backslash followed by "n", which the sops dotenv store cannot carry.
var tricky = map[string]string{
	"QUOTES":     `it's "double" and 'single' \ back\slash`,
	"DOLLAR":     "pa$$word${HOME}$(id)`id`",
	"HASH":       "before # after #no-comment",
	"NEWLINES":   "first line\nsecond line\n",
	"UNICODE":    "pässwörd-🔑-密码-ǅ",
	"SPACES":     "   leading and trailing   ",
	"EQUALS":     "a=b==c",
	"COLON":      "key: value, [flow] {map}",
	"NUMBERLIKE": "0123",
	"BOOLLIKE":   "yes",
	"EMPTY":      "",
	"PASSWORD":   "hunter2-correct-horse-battery",
}

func newIdentity(t *testing.T) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// plainDoc renders values as a cleartext document of format f.
func plainDoc(t *testing.T, f Format, values map[string]string) []byte {
	t.Helper()
	switch f {
	case FormatYAML:
		out, err := yaml.Marshal(values)
		if err != nil {
			t.Fatal(err)
		}
		return out
	case FormatJSON:
		out, err := json.MarshalIndent(values, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		return out
	case FormatDotenv:
		var b strings.Builder
		b.WriteString("# a comment\n")
		for _, k := range sortedKeys(values) {
			fmt.Fprintf(&b, "%s=%s\n", k, strings.ReplaceAll(values[k], "\n", `\n`))
		}
		return []byte(b.String())
	}
	t.Fatalf("format %v", f)
	return nil
}

var formats = []struct {
	format Format
	path   string
}{
	{FormatYAML, "secrets.sops.yaml"},
	{FormatJSON, "secrets.sops.json"},
	{FormatDotenv, "secrets.sops.env"},
}

// secretValues returns the values of tricky worth searching for in output.
func secretValues() []string {
	var out []string
	for _, v := range tricky {
		if len(v) >= 6 {
			out = append(out, v)
		}
	}
	return out
}

// assertNoSecret fails if the error, or anything it wraps, shows a secret.
func assertNoSecret(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	texts := []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)}
	for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
		texts = append(texts, e.Error())
	}
	for _, s := range append(secrets, secretValues()...) {
		for _, text := range texts {
			if strings.Contains(text, s) {
				t.Errorf("error shows secret %q: %s", s, text)
			}
		}
	}
}

func wantReason(t *testing.T, err error, want Reason, secrets ...string) *Error {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want reason %s", want)
	}
	assertNoSecret(t, err, secrets...)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not *Error", err, err)
	}
	if e.Reason != want {
		t.Fatalf("reason = %s, want %s: %v", e.Reason, want, err)
	}
	return e
}

func TestRoundTrip(t *testing.T) {
	id1, id2 := newIdentity(t), newIdentity(t)
	recipients := []string{id1.Recipient().String(), id2.Recipient().String()}
	for _, tc := range formats {
		t.Run(tc.format.String(), func(t *testing.T) {
			plain := plainDoc(t, tc.format, tricky)
			enc, err := Encrypt(plain, tc.format, recipients)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range secretValues() {
				if bytes.Contains(enc, []byte(s)) {
					t.Errorf("encrypted document contains the value %q", s)
				}
			}
			for _, ids := range [][]age.Identity{{id1}, {id2}, {newIdentity(t), id2}} {
				got, err := DecryptValues(enc, tc.path, ids)
				if err != nil {
					t.Fatal(err)
				}
				if !equalMaps(got, tricky) {
					t.Errorf("DecryptValues = %q, want %q", got, tricky)
				}
			}

			clear, err := Decrypt(enc, tc.format, []age.Identity{id1})
			if err != nil {
				t.Fatal(err)
			}
			switch tc.format {
			case FormatDotenv:
				if !bytes.Equal(clear, plain) {
					t.Errorf("Decrypt =\n%s\nwant\n%s", clear, plain)
				}
			default:
				var got map[string]string
				if err := yaml.Unmarshal(clear, &got); err != nil {
					t.Fatal(err)
				}
				if !equalMaps(got, tricky) {
					t.Errorf("Decrypt = %q, want %q", got, tricky)
				}
			}
			checkMetadata(t, tc.format, enc, recipients)
		})
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// checkMetadata checks the standard sops metadata fields.
func checkMetadata(t *testing.T, f Format, enc []byte, recipients []string) {
	t.Helper()
	md := metadataOf(t, f, enc)
	for i, r := range recipients {
		if got := md[fmt.Sprintf("age.%d.recipient", i)]; got != r {
			t.Errorf("age[%d].recipient = %q, want %q", i, got, r)
		}
		if got := md[fmt.Sprintf("age.%d.enc", i)]; !strings.HasPrefix(got, "-----BEGIN AGE ENCRYPTED FILE-----") {
			t.Errorf("age[%d].enc = %q", i, got)
		}
	}
	if !strings.HasPrefix(md["mac"], "ENC[AES256_GCM,data:") || !strings.HasSuffix(md["mac"], ",type:str]") {
		t.Errorf("mac = %q", md["mac"])
	}
	lm, err := time.Parse(time.RFC3339, md["lastmodified"])
	if err != nil || time.Since(lm) > time.Minute || time.Until(lm) > time.Minute {
		t.Errorf("lastmodified = %q (%v)", md["lastmodified"], err)
	}
	if md["version"] == "" {
		t.Error("no version")
	}
	if md["unencrypted_suffix"] != "_unencrypted" {
		t.Errorf("unencrypted_suffix = %q", md["unencrypted_suffix"])
	}
}

// metadataOf flattens the sops metadata of an encrypted document into
// "age.0.recipient"-style keys.
func metadataOf(t *testing.T, f Format, enc []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	if f == FormatDotenv {
		for _, line := range strings.Split(string(enc), "\n") {
			k, v, ok := strings.Cut(line, "=")
			if !ok || !strings.HasPrefix(k, "sops_") {
				continue
			}
			k = strings.TrimPrefix(k, "sops_")
			k = regexp.MustCompile(`__list_(\d+)__map_`).ReplaceAllString(k, ".$1.")
			out[k] = strings.ReplaceAll(v, `\n`, "\n")
		}
		return out
	}
	var doc struct {
		Sops map[string]any `yaml:"sops"`
	}
	if err := yaml.Unmarshal(enc, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				walk(prefix+k+".", x)
			}
		case []any:
			for i, x := range v {
				walk(fmt.Sprintf("%s%d.", prefix, i), x)
			}
		default:
			out[strings.TrimSuffix(prefix, ".")] = fmt.Sprint(v)
		}
	}
	walk("", doc.Sops)
	return out
}

func TestEncryptUsesFreshDataKey(t *testing.T) {
	id := newIdentity(t)
	plain := plainDoc(t, FormatYAML, tricky)
	dataKey := func() []byte {
		enc, err := Encrypt(plain, FormatYAML, []string{id.Recipient().String()})
		if err != nil {
			t.Fatal(err)
		}
		r, err := age.Decrypt(armor.NewReader(strings.NewReader(metadataOf(t, FormatYAML, enc)["age.0.enc"])), id)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if _, err := b.ReadFrom(r); err != nil {
			t.Fatal(err)
		}
		if b.Len() != 32 {
			t.Fatalf("data key has %d bytes", b.Len())
		}
		return b.Bytes()
	}
	if bytes.Equal(dataKey(), dataKey()) {
		t.Error("two encryptions share a data key")
	}
}

func TestDecryptValuesScalarsAndComments(t *testing.T) {
	id := newIdentity(t)
	plain := []byte("# head comment\nport: 5432\nratio: 1.5\ndebug: true\nnothing:\nname: app # inline\nkept_unencrypted: visible\n")
	enc, err := Encrypt(plain, FormatYAML, []string{id.Recipient().String()})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(enc, []byte("kept_unencrypted: visible")) {
		t.Errorf("a key with sops' unencrypted suffix was encrypted:\n%s", enc)
	}
	got, err := DecryptValues(enc, "values.yml", []age.Identity{id})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"port": "5432", "ratio": "1.5", "debug": "true", "nothing": "", "name": "app", "kept_unencrypted": "visible"}
	if !equalMaps(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestDecryptValuesRejectsNesting(t *testing.T) {
	id := newIdentity(t)
	for _, tc := range []struct {
		path, plain, key string
	}{
		{"v.yaml", "db:\n  password: hunter2-correct-horse-battery\n", "db"},
		{"v.yaml", "hosts:\n  - hunter2-correct-horse-battery\n", "hosts"},
		{"v.json", `{"ok": "x", "db": {"password": "hunter2-correct-horse-battery"}}`, "db"},
	} {
		enc, err := Encrypt([]byte(tc.plain), FormatForPath(tc.path), []string{id.Recipient().String()})
		if err != nil {
			t.Fatal(err)
		}
		_, err = DecryptValues(enc, tc.path, []age.Identity{id})
		e := wantReason(t, err, ReasonMalformed)
		if e.Path != tc.path || !strings.Contains(err.Error(), fmt.Sprintf("key %q", tc.key)) {
			t.Errorf("error does not name the path and key %q: %v", tc.key, err)
		}
	}
}

func encryptedYAML(t *testing.T) ([]byte, *age.X25519Identity) {
	t.Helper()
	id := newIdentity(t)
	enc, err := Encrypt(plainDoc(t, FormatYAML, tricky), FormatYAML, []string{id.Recipient().String()})
	if err != nil {
		t.Fatal(err)
	}
	return enc, id
}

func TestWrongOrMissingKey(t *testing.T) {
	for _, tc := range formats {
		t.Run(tc.format.String(), func(t *testing.T) {
			owner := newIdentity(t)
			enc, err := Encrypt(plainDoc(t, tc.format, tricky), tc.format, []string{owner.Recipient().String()})
			if err != nil {
				t.Fatal(err)
			}
			other := newIdentity(t)
			_, err = DecryptValues(enc, tc.path, []age.Identity{other})
			e := wantReason(t, err, ReasonNoMatchingKey)
			msg := err.Error()
			for _, want := range []string{"failed to decrypt " + tc.path + ": ", owner.Recipient().String(), other.Recipient().String(), "--age-key-file"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error does not contain %q: %s", want, msg)
				}
			}
			if strings.Contains(msg, "AGE-SECRET-KEY") {
				t.Errorf("error shows a private key: %s", msg)
			}
			if e.Path != tc.path {
				t.Errorf("Path = %q", e.Path)
			}

			for _, ids := range [][]age.Identity{nil, {}} {
				_, err = Decrypt(enc, tc.format, ids)
				wantReason(t, err, ReasonNoMatchingKey)
				if msg := err.Error(); !strings.Contains(msg, "no age identity was given") || !strings.Contains(msg, owner.Recipient().String()) {
					t.Errorf("error = %s", msg)
				}
			}
		})
	}
}

// TestEnvironmentIsIgnored sets every place sops looks for age keys to the
// right key: decrypting with no (or a wrong) identity must still fail.
func TestEnvironmentIsIgnored(t *testing.T) {
	enc, id := encryptedYAML(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "keys.txt")
	if err := os.WriteFile(keyFile, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(dir, ".config", "sops", "age"), filepath.Join(dir, "xdg", "sops", "age")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "keys.txt"), []byte(id.String()+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("SOPS_AGE_KEY", id.String())
	t.Setenv("SOPS_AGE_KEY_FILE", keyFile)
	t.Setenv("SOPS_AGE_KEY_CMD", "cat "+keyFile)
	t.Setenv("HOME", dir)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "xdg"))

	_, err := DecryptValues(enc, "secrets.sops.yaml", nil)
	wantReason(t, err, ReasonNoMatchingKey)
	_, err = Decrypt(enc, FormatYAML, []age.Identity{newIdentity(t)})
	wantReason(t, err, ReasonNoMatchingKey)

	// The right identity passed explicitly works.
	if _, err := DecryptValues(enc, "secrets.sops.yaml", []age.Identity{id}); err != nil {
		t.Fatal(err)
	}
}

var encValueRE = func(key string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^(\s*` + regexp.QuoteMeta(key) + `: ENC\[AES256_GCM,data:)(.)`)
}

// flipFirst changes the first base64 character of the data of key's ENC value.
func flipFirst(t *testing.T, doc []byte, key string) []byte {
	t.Helper()
	re := encValueRE(key)
	m := re.FindSubmatchIndex(doc)
	if m == nil {
		t.Fatalf("no encrypted value for %s in\n%s", key, doc)
	}
	out := bytes.Clone(doc)
	if out[m[4]] == 'A' {
		out[m[4]] = 'B'
	} else {
		out[m[4]] = 'A'
	}
	return out
}

func TestTampering(t *testing.T) {
	enc, id := encryptedYAML(t)
	ids := []age.Identity{id}
	lm := regexp.MustCompile(`(?m)^(\s*lastmodified: )"?([^"\n]+)"?$`)
	tests := []struct {
		name   string
		tamper func([]byte) []byte
		names  string // key the error must name, if any
	}{
		{"ciphertext value", func(b []byte) []byte { return flipFirst(t, b, "PASSWORD") }, "PASSWORD"},
		{"MAC", func(b []byte) []byte { return flipFirst(t, b, "mac") }, ""},
		{"key name", func(b []byte) []byte {
			return regexp.MustCompile(`(?m)^PASSWORD:`).ReplaceAll(b, []byte("PASSWORX:"))
		}, "PASSWORX"},
		{"value swapped for cleartext", func(b []byte) []byte {
			return regexp.MustCompile(`(?m)^PASSWORD: .*$`).ReplaceAll(b, []byte("PASSWORD: hunter2-correct-horse-battery"))
		}, "PASSWORD"},
		{"values swapped", func(b []byte) []byte {
			a := regexp.MustCompile(`(?m)^PASSWORD: (.*)$`).FindSubmatch(b)[1]
			c := regexp.MustCompile(`(?m)^DOLLAR: (.*)$`).FindSubmatch(b)[1]
			b = bytes.Replace(b, a, []byte("@@A@@"), 1)
			b = bytes.Replace(b, c, a, 1)
			return bytes.Replace(b, []byte("@@A@@"), c, 1)
		}, ""},
		{"key removed", func(b []byte) []byte {
			return regexp.MustCompile(`(?m)^PASSWORD: .*\n`).ReplaceAll(b, nil)
		}, ""},
		{"key marked unencrypted", func(b []byte) []byte {
			return regexp.MustCompile(`(?m)^PASSWORD:`).ReplaceAll(b, []byte("PASSWORD_unencrypted:"))
		}, ""},
		{"lastmodified", func(b []byte) []byte {
			return lm.ReplaceAll(b, []byte(`${1}"2001-02-03T04:05:06Z"`))
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bad := tc.tamper(enc)
			if bytes.Equal(bad, enc) {
				t.Fatal("tampering changed nothing")
			}
			_, err := DecryptValues(bad, "secrets.sops.yaml", ids)
			wantReason(t, err, ReasonMACMismatch)
			msg := err.Error()
			if !strings.HasPrefix(msg, "failed to decrypt secrets.sops.yaml: MAC mismatch: ") ||
				!strings.Contains(msg, "the file was modified after encryption (tampered?); re-encrypt it with sops") {
				t.Errorf("error = %s", msg)
			}
			if tc.names != "" && !strings.Contains(msg, fmt.Sprintf("%q", tc.names)) {
				t.Errorf("error does not name key %s: %s", tc.names, msg)
			}
		})
	}

	t.Run("exact message", func(t *testing.T) {
		_, err := DecryptValues(flipFirst(t, enc, "mac"), "secrets.sops.yaml", ids)
		want := "failed to decrypt secrets.sops.yaml: MAC mismatch: the file was modified after encryption (tampered?); re-encrypt it with sops"
		if err == nil || err.Error() != want {
			t.Errorf("error = %v, want %s", err, want)
		}
	})
}

func TestTamperingJSONAndDotenv(t *testing.T) {
	id := newIdentity(t)
	for _, tc := range formats[1:] {
		enc, err := Encrypt(plainDoc(t, tc.format, tricky), tc.format, []string{id.Recipient().String()})
		if err != nil {
			t.Fatal(err)
		}
		// Flip the first data character of the PASSWORD value.
		re := regexp.MustCompile(`PASSWORD"?\s*[:=]\s*"?ENC\[AES256_GCM,data:(.)`)
		m := re.FindSubmatchIndex(enc)
		if m == nil {
			t.Fatalf("no PASSWORD in\n%s", enc)
		}
		bad := bytes.Clone(enc)
		bad[m[2]] ^= 1
		_, err = DecryptValues(bad, tc.path, []age.Identity{id})
		wantReason(t, err, ReasonMACMismatch)
	}
}

func TestMalformed(t *testing.T) {
	id := newIdentity(t)
	ids := []age.Identity{id}
	enc, _ := encryptedYAML(t)
	tests := []struct {
		name, path, data string
	}{
		{"binary garbage", "s.yaml", "\x00\x01\x02\xff garbage"},
		{"bad yaml", "s.yaml", "PASSWORD: hunter2-correct-horse-battery\n  - oops: [\n"},
		{"yaml scalar", "s.yaml", "hunter2-correct-horse-battery\n"},
		{"yaml list", "s.yaml", "- hunter2-correct-horse-battery\n"},
		{"bad json", "s.json", `{"PASSWORD": "hunter2-correct-horse-battery",`},
		{"json array", "s.json", `["hunter2-correct-horse-battery"]`},
		{"dotenv line without =", "s.env", "OK=1\nhunter2-correct-horse-battery\n"},
		{"yaml for json", "s.json", string(enc)},
		{"corrupt metadata", "s.yaml", regexp.MustCompile(`(?m)^(\s*)lastmodified: .*$`).ReplaceAllString(string(enc), `${1}lastmodified: yesterday`)},
		{"no keys in metadata", "s.yaml", "PASSWORD: ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]\nsops:\n    lastmodified: \"2024-01-01T00:00:00Z\"\n    mac: x\n    version: 3.13.3\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecryptValues([]byte(tc.data), tc.path, ids)
			e := wantReason(t, err, ReasonMalformed)
			if e.Path != tc.path || !strings.HasPrefix(err.Error(), "failed to decrypt "+tc.path+": ") {
				t.Errorf("error = %v", err)
			}
		})
	}
	t.Run("line numbers", func(t *testing.T) {
		_, err := DecryptValues([]byte("OK=1\n\n# c\nNOPE\n"), "s.env", ids)
		if err == nil || !strings.Contains(err.Error(), "line 4") {
			t.Errorf("error = %v", err)
		}
		_, err = DecryptValues([]byte("{\n\"a\": \"b\",\n}"), "s.json", ids)
		if err == nil || !strings.Contains(err.Error(), "line 3") {
			t.Errorf("error = %v", err)
		}
	})
}

func TestNotEncrypted(t *testing.T) {
	id := newIdentity(t)
	for _, tc := range formats {
		t.Run(tc.format.String(), func(t *testing.T) {
			_, err := DecryptValues(plainDoc(t, tc.format, tricky), tc.path, []age.Identity{id})
			wantReason(t, err, ReasonNotEncrypted)
			if !strings.Contains(err.Error(), "not encrypted with sops") {
				t.Errorf("error = %v", err)
			}
		})
	}
}

func TestEncryptErrors(t *testing.T) {
	id := newIdentity(t)
	r := id.Recipient().String()
	enc, _ := encryptedYAML(t)
	tests := []struct {
		name       string
		plain      string
		format     Format
		recipients []string
		reason     Reason // "" for a plain error
	}{
		{"already encrypted", string(enc), FormatYAML, []string{r}, ReasonMalformed},
		{"bad yaml", "a: hunter2-correct-horse-battery\n b: [", FormatYAML, []string{r}, ReasonMalformed},
		{"bad dotenv", "hunter2-correct-horse-battery\n", FormatDotenv, []string{r}, ReasonMalformed},
		{"bad json", `{"a": "hunter2-correct-horse-battery"`, FormatJSON, []string{r}, ReasonMalformed},
		{"empty yaml", "", FormatYAML, []string{r}, ReasonMalformed},
		{"no recipients", "a: b\n", FormatYAML, nil, ""},
		{"bad recipient", "a: b\n", FormatYAML, []string{"age1notakey"}, ""},
		{"ssh recipient", "a: b\n", FormatYAML, []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAjuWb4rSK4dl/7hF5PUqeVl+jd2YrbSJ0gH3h8vkHOe"}, ""},
		{"plugin recipient", "a: b\n", FormatYAML, []string{"age1yubikey1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3t"}, ""},
		{"unknown format", "a: b\n", Format(42), []string{r}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Encrypt([]byte(tc.plain), tc.format, tc.recipients)
			if err == nil {
				t.Fatalf("no error; output:\n%s", out)
			}
			assertNoSecret(t, err)
			if !strings.HasPrefix(err.Error(), "failed to encrypt") {
				t.Errorf("error = %v", err)
			}
			var e *Error
			if tc.reason == "" {
				if errors.As(err, &e) {
					t.Errorf("got *Error %v", err)
				}
				return
			}
			wantReason(t, err, tc.reason)
		})
	}
}

func TestErrorFormat(t *testing.T) {
	e := &Error{Reason: ReasonNotEncrypted}
	if got := e.Error(); got != "failed to decrypt sops document: not-encrypted" {
		t.Errorf("Error() = %q", got)
	}
	inner := errors.New("inner")
	e = &Error{Reason: ReasonMalformed, Path: "a.yaml", Err: inner}
	if got := e.Error(); got != "failed to decrypt a.yaml: inner" {
		t.Errorf("Error() = %q", got)
	}
	wrapped := fmt.Errorf("failed to load: %w", e)
	var got *Error
	if !errors.As(wrapped, &got) || got != e || !errors.Is(wrapped, inner) {
		t.Error("errors.As/Is do not see through wrapping")
	}
}

func TestFormatForPath(t *testing.T) {
	for path, want := range map[string]Format{
		"secrets.sops.yaml": FormatYAML, "a/b.yml": FormatYAML, "x.JSON": FormatJSON, "prod.env": FormatDotenv,
		".env": FormatDotenv, "secrets": FormatYAML, "a.env.yaml": FormatYAML,
	} {
		if got := FormatForPath(path); got != want {
			t.Errorf("FormatForPath(%q) = %v, want %v", path, got, want)
		}
	}
}
