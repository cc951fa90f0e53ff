// Package envfile edits `.env` and env_file files in place so that Docker
// Compose reads back exactly the value written.
//
// The syntax accepted, and the meaning given to it, mirror the dotenv parser
// of compose-go (github.com/compose-spec/compose-go/v2/dotenv): the tokenizer
// below is a port of that parser which keeps byte offsets, so that a File can
// replace one assignment's value and leave every other byte untouched. The
// tests check the port against compose-go itself, including a fuzz test.
//
// Nothing in this package reads the process environment, and no error message
// contains a value.
package envfile

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// File is a parsed env file. It keeps every byte of the input; Bytes returns
// the input with the changes made by Set.
type File struct {
	data    []byte
	bom     int // length of a leading UTF-8 BOM, which compose skips
	entries []entry
	// lineOff and lineNo are where lineAt last counted to: the offset, and the newlines before it.
	lineOff, lineNo int
}

// entry is one statement: an assignment (KEY=value, KEY: value, export KEY=value)
// or an inherited key (a line holding only KEY, which compose resolves from the
// environment).
type entry struct {
	key        string
	inherited  bool
	line       int // 1-based line of the value (of the key for inherited entries)
	stmt       int // byte offset of the statement
	start, end int // byte span of the value token in File.data (quotes included)
	quote      byte
}

const (
	charComment       = '#'
	prefixSingleQuote = '\''
	prefixDoubleQuote = '"'
)

var (
	utf8BOM        = []byte("\uFEFF")
	exportRegex    = regexp.MustCompile(`^export\s+`)
	escapeSeqRegex = regexp.MustCompile(`(\\(?:[abcfnrtv$"\\]|0\d{0,3}))`)
	keyRegex       = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)
)

// Parse parses an env file the way compose does. It fails where compose fails
// to parse (unterminated quotes, invalid characters in a key), naming the line
// but never the value.
func Parse(data []byte) (*File, error) {
	f := &File{data: bytes.Clone(data)}
	if f.data == nil {
		f.data = []byte{}
	}
	if err := f.parse(); err != nil {
		return nil, err
	}
	return f, nil
}

// Bytes returns the file content, including the changes made by Set.
func (f *File) Bytes() []byte {
	return bytes.Clone(f.data)
}

// Keys returns the keys the file assigns, in the order of their first
// assignment, without duplicates.
func (f *File) Keys() []string {
	seen := map[string]bool{}
	var keys []string
	for _, e := range f.entries {
		if e.inherited || seen[e.key] {
			continue
		}
		seen[e.key] = true
		keys = append(keys, e.key)
	}
	return keys
}

// Get returns the value compose reads for key, and whether the file assigns
// it. When a key is assigned more than once compose keeps the last assignment,
// and so does Get.
//
// Interpolation (`$VAR`, `${VAR:-default}`, ...) in unquoted and double-quoted
// values is resolved against the assignments that precede it in the same
// file only, which is what compose does for a variable absent from its
// environment; the process environment is never read. A line holding only a
// key (compose takes its value from the environment) does not count as an
// assignment. If the value cannot be interpolated (for example `${VAR:?}` with
// VAR unset) Get reports false.
func (f *File) Get(key string) (string, bool) {
	v, ok := f.Values()[key]
	return v, ok
}

// Values returns every key's value as Get does, in one pass over the file: the way to read many keys
// (Get decodes the whole file each time, since a value may refer to earlier ones).
func (f *File) Values() map[string]string {
	env := map[string]string{}
	failed := map[string]bool{}
	for _, e := range f.entries {
		if e.inherited {
			continue
		}
		v, err := f.decode(e, env)
		env[e.key] = v
		failed[e.key] = err != nil
	}
	for k, bad := range failed {
		if bad {
			delete(env, k)
		}
	}
	return env
}

// Set makes compose read value for key. It replaces the value of the last
// assignment of key (the one compose uses) and leaves every other byte of the
// file untouched; when the file does not assign key, it appends
// `KEY=value` on a new line at the end. The value is written as Quote
// returns it, except that a value replacing a quoted one stays quoted.
//
// Set fails for a key that is not a valid name ([A-Za-z_][A-Za-z0-9_.-]*) and
// for a value holding a NUL byte or invalid UTF-8.
func (f *File) Set(key, value string) error {
	if !keyRegex.MatchString(key) {
		return fmt.Errorf("invalid key %q: must match [A-Za-z_][A-Za-z0-9_.-]*", key)
	}
	if strings.IndexByte(value, 0) >= 0 {
		return fmt.Errorf("invalid value for %s: contains a NUL byte", key)
	}
	if !utf8.ValidString(value) {
		return fmt.Errorf("invalid value for %s: not valid UTF-8", key)
	}

	idx := -1
	for i, e := range f.entries {
		if e.key == key && !e.inherited {
			idx = i
		}
	}

	var out []byte
	if idx >= 0 {
		e := f.entries[idx]
		repr := Quote(value)
		if e.quote != 0 && !isQuoted(repr) {
			// What follows a quoted value on its line was not part of it;
			// an unquoted value would absorb it.
			repr = quoteAlways(value)
		}
		out = make([]byte, 0, len(f.data)-(e.end-e.start)+len(repr))
		out = append(out, f.data[:e.start]...)
		out = append(out, repr...)
		out = append(out, f.data[e.end:]...)
	} else if at, ok := f.unterminatedName(); ok {
		// The file ends with a line holding only a name and no newline: compose reads it as nothing
		// (an assignment to the empty key), but with a line after it, as a name to take from the
		// environment. The new assignment goes before that line, so that the file keeps its meaning.
		line := key + "=" + Quote(value) + f.newline()
		out = make([]byte, 0, len(f.data)+len(line))
		out = append(out, f.data[:at]...)
		out = append(out, line...)
		out = append(out, f.data[at:]...)
	} else {
		nl := f.newline()
		out = make([]byte, 0, len(f.data)+len(key)+len(value)+8)
		out = append(out, f.data...)
		if len(out) > f.bom && out[len(out)-1] != '\n' {
			out = append(out, nl...)
		}
		out = append(out, key...)
		out = append(out, '=')
		out = append(out, Quote(value)...)
		out = append(out, nl...)
	}

	next, err := readsBack(out, key, value)
	if err != nil {
		return err
	}
	if idx >= 0 && value == "" && f.entries[idx].quote == 0 {
		// An empty value is written as KEY= (as it was before a rotation staged a value there), unless
		// what follows on the line would then be read as the value.
		e := f.entries[idx]
		bare := append(append([]byte{}, f.data[:e.start]...), f.data[e.end:]...)
		if n, err := readsBack(bare, key, value); err == nil {
			next = n
		}
	}
	*f = *next
	return nil
}

// unterminatedName returns the offset of the last statement when it is a name alone with no newline
// after it (`A=1\nB`), which compose reads as an assignment to the empty key.
func (f *File) unterminatedName() (int, bool) {
	if len(f.entries) == 0 || bytes.HasSuffix(f.data, []byte{'\n'}) {
		return 0, false
	}
	e := f.entries[len(f.entries)-1]
	if e.key != "" || e.inherited || e.quote != 0 {
		return 0, false
	}
	return e.stmt, true
}

// readsBack parses data and checks that key reads back exactly value.
func readsBack(data []byte, key, value string) (*File, error) {
	next := &File{data: data}
	if err := next.parse(); err != nil {
		return nil, fmt.Errorf("failed to set %s: the edited file does not parse: %w", key, err)
	}
	if got, ok := next.Get(key); !ok || got != value {
		return nil, fmt.Errorf("failed to set %s: the edited file does not read back the value written", key)
	}
	return next, nil
}

// newline returns the line ending the file uses: CRLF if its first line ends
// with one, LF otherwise.
func (f *File) newline() string {
	if i := bytes.IndexByte(f.data, '\n'); i > 0 && f.data[i-1] == '\r' {
		return "\r\n"
	}
	return "\n"
}

// Quote returns the representation of value that compose reads back as
// exactly value:
//
//   - bare when every byte is in [A-Za-z0-9_.,:/@%+=~^-] and the value is not
//     empty (no whitespace, quote, '#', '$' or backslash to interpret);
//   - otherwise single quotes when the value holds no single quote, no CR or
//     LF, and does not end with a backslash: compose reads single-quoted
//     values literally, without escapes or interpolation (a backslash there
//     only escapes the quote, and a backslash before any other byte is kept
//     with it);
//   - otherwise double quotes, escaping `\` as `\\`, `"` as `\"`, `$` as `\$`,
//     LF as `\n`, CR as `\r` and tab as `\t`; other bytes are written as they
//     are.
//
// The empty value is written as a pair of single quotes.
func Quote(value string) string {
	if value != "" && isBare(value) {
		return value
	}
	return quoteAlways(value)
}

func quoteAlways(value string) string {
	if canSingleQuote(value) {
		return "'" + value + "'"
	}
	var b strings.Builder
	b.Grow(len(value) + 8)
	b.WriteByte('"')
	for i := 0; i < len(value); i++ {
		switch c := value[i]; c {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '$':
			b.WriteString(`\$`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func isQuoted(repr string) bool {
	return repr != "" && (repr[0] == '\'' || repr[0] == '"')
}

func isBare(value string) bool {
	for i := 0; i < len(value); i++ {
		c := value[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("_.,:/@%+=~^-", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func canSingleQuote(value string) bool {
	return !strings.ContainsAny(value, "'\r\n") && !strings.HasSuffix(value, `\`)
}

// --- parser: a port of compose-go/v2/dotenv/parser.go that keeps offsets ---

func (f *File) parse() error {
	if bytes.HasPrefix(f.data, utf8BOM) {
		f.bom = len(utf8BOM)
	}
	all := string(f.data[f.bom:])
	off := func(s string) int { return f.bom + len(all) - len(s) }

	cutset := all
	for {
		cutset = getStatementStart(cutset)
		if cutset == "" {
			break
		}
		stmt := off(cutset)

		key, left, inherited, err := locateKeyName(cutset)
		if err != nil {
			return fmt.Errorf("line %d: %w", f.lineAt(stmt), err)
		}
		if strings.Contains(key, " ") {
			return fmt.Errorf("line %d: key cannot contain a space", f.lineAt(stmt))
		}
		if inherited {
			f.entries = append(f.entries, entry{key: key, inherited: true, line: f.lineAt(stmt), stmt: stmt, start: stmt, end: stmt})
			cutset = left
			continue
		}

		start := off(left)
		token, quote, rest, err := extractVarValue(left)
		if err != nil {
			return fmt.Errorf("line %d: %w for %s", f.lineAt(start), err, key)
		}
		f.entries = append(f.entries, entry{key: key, line: f.lineAt(start), stmt: stmt, start: start, end: start + len(token), quote: quote})
		cutset = rest
	}
	return nil
}

// lineAt returns the 1-based line of offset. The parser asks for offsets in increasing order, so it
// counts on from the last offset asked for: counting from the start every time made parsing a large file
// quadratic (a 5 MB .env took seconds).
func (f *File) lineAt(offset int) int {
	if offset < f.lineOff {
		f.lineOff, f.lineNo = 0, 0
	}
	f.lineNo += bytes.Count(f.data[f.lineOff:offset], []byte{'\n'})
	f.lineOff = offset
	return f.lineNo + 1
}

// getStatementStart skips whitespace and comment lines.
func getStatementStart(src string) string {
	for {
		pos := strings.IndexFunc(src, func(r rune) bool { return !unicode.IsSpace(r) })
		if pos == -1 {
			return ""
		}
		src = src[pos:]
		if src[0] != charComment {
			return src
		}
		pos = strings.IndexByte(src, '\n')
		if pos == -1 {
			return ""
		}
		src = src[pos:]
	}
}

// locateKeyName returns the key, the rest of src after the separator (with
// leading blanks removed) and whether the statement is a bare key.
func locateKeyName(src string) (key, rest string, inherited bool, err error) {
	if exportRegex.MatchString(src) {
		src = strings.TrimLeftFunc(strings.TrimPrefix(src, "export"), isSpace)
	}

	offset := 0
loop:
	for i, r := range src {
		if isSpace(r) {
			continue
		}
		switch r {
		case '=', ':', '\n':
			key = src[0:i]
			offset = i + 1
			inherited = r == '\n'
			break loop
		case '_', '.', '-', '[', ']':
		default:
			if unicode.IsLetter(r) || unicode.IsNumber(r) {
				continue
			}
			return "", "", false, errors.New("unexpected character in variable name")
		}
	}
	if src == "" {
		return "", "", false, errors.New("zero length string")
	}
	key = strings.TrimRightFunc(key, unicode.IsSpace)
	rest = strings.TrimLeftFunc(src[offset:], isSpace)
	return key, rest, inherited, nil
}

// extractVarValue returns the raw value token at the start of src (quotes
// included), its quote character (0 if unquoted) and what follows it.
func extractVarValue(src string) (token string, quote byte, rest string, err error) {
	if src == "" || (src[0] != prefixSingleQuote && src[0] != prefixDoubleQuote) {
		line, rest, _ := strings.Cut(src, "\n")
		value, _, _ := strings.Cut(line, " #")
		value = strings.TrimRightFunc(value, unicode.IsSpace)
		return src[:len(value)], 0, rest, nil
	}
	quote = src[0]
	escaped := false
	for i := 1; i < len(src); i++ {
		c := src[i]
		if c != quote {
			escaped = !escaped && c == '\\'
			continue
		}
		if escaped {
			escaped = false
			continue
		}
		return src[:i+1], quote, src[i+1:], nil
	}
	return "", 0, "", errors.New("unterminated quoted value")
}

// decode returns the value of an assignment as compose computes it, with env
// holding the values assigned before it.
func (f *File) decode(e entry, env map[string]string) (string, error) {
	token := string(f.data[e.start:e.end])
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	switch e.quote {
	case 0:
		return substitute(token, lookup)
	case prefixSingleQuote:
		return unquoteRaw(token), nil
	default:
		return substitute(expandEscapes(unquoteRaw(token)), lookup)
	}
}

// unquoteRaw strips the quotes of a quoted token; a backslash before the
// quote character yields the quote, a backslash before anything else is kept
// with the byte it precedes.
func unquoteRaw(token string) string {
	quote := token[0]
	src := token[1 : len(token)-1]
	var chars []byte
	escaped := false
	for i := 0; i < len(src); i++ {
		c := src[i]
		if c != quote {
			if !escaped && c == '\\' {
				escaped = true
				continue
			}
			if escaped {
				escaped = false
				chars = append(chars, '\\')
			}
			chars = append(chars, c)
			continue
		}
		escaped = false
		chars = append(chars, c)
	}
	return string(chars)
}

// expandEscapes expands the escape sequences compose supports in double
// quotes: \a \b \c \f \n \r \t \v \$ \" \\ and \0NNN octal.
func expandEscapes(str string) string {
	return escapeSeqRegex.ReplaceAllStringFunc(str, func(match string) string {
		if match == `\$` {
			return "$$"
		}
		if strings.HasPrefix(match, `\0`) {
			match = strings.Replace(match, `\0`, `\`, 1)
		}
		v, _, _, err := strconv.UnquoteChar(match, '"')
		if err != nil {
			return match
		}
		return string(v)
	})
}

func isSpace(r rune) bool {
	switch r {
	case '\t', '\v', '\f', '\r', ' ', 0x85, 0xA0:
		return true
	}
	return false
}
