package envfile

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/compose-spec/compose-go/v2/dotenv"
)

// composeRead parses data the way compose reads a .env or env_file file,
// without looking anything up in the process environment.
func composeRead(t testing.TB, data []byte) map[string]string {
	t.Helper()
	m, err := dotenv.ParseWithLookup(bytes.NewReader(data), nil)
	if err != nil {
		t.Fatalf("compose-go failed to parse the file: %v\n%q", err, data)
	}
	return m
}

// trickyValues are values whose representation needs care.
var trickyValues = []string{
	"",
	"plain",
	"abc123XYZ",
	"base64+/=",
	"with space",
	" leading space",
	"trailing space ",
	"  ",
	"\ttab",
	"tab\t",
	"a\tb",
	"#hash",
	"a #not comment",
	"a#b",
	"a # b # c",
	"$",
	"$$",
	"$HOME",
	"${HOME}",
	"${HOME:-x}",
	"$1",
	"a$b$",
	"pa$$word",
	"\\$HOME",
	"'",
	"''",
	"it's",
	"'quoted'",
	`"`,
	`""`,
	`say "hi"`,
	`"double" and 'single'`,
	`\`,
	`\\`,
	`\\\`,
	`a\`,
	`a\\`,
	`C:\path\to\file`,
	`\n`,
	`\t`,
	`\"`,
	`\'`,
	`\$`,
	`\0123`,
	`\0`,
	`\x41`,
	`\u0041`,
	"'\\",
	"\\'",
	"\"\\",
	"\\\"'$",
	"line1\nline2",
	"\n",
	"\n\n",
	"trailing newline\n",
	"\r\n",
	"crlf\r\nvalue",
	"\r",
	"key=value",
	"=",
	"==",
	":",
	"a: b",
	"export",
	"export FOO=bar",
	"unicode ✓ ünïcødé 日本語",
	"✓",
	"\u00a0nbsp\u00a0",
	"\u0085nel",
	"\u2003em space\u2003",
	"\u2028line sep",
	"\ufeffbom",
	"\x01\x02\x1b[0m",
	"\v\f",
	"\x7f",
	"`backtick` $(cmd) ;|&<>*?!",
	"{}[]()",
	"-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
	"postgres://user:p@ss w0rd@host:5432/db?sslmode=disable#frag",
	strings.Repeat("x", 4096),
}

const baseFile = "# leading comment\n" +
	"\n" +
	"FIRST=one\n" +
	"export EXPORTED='exp'\n" +
	"KEY=old # trailing comment\n" +
	"  INDENTED = \"in dented\"  \n" +
	"YAML: style\n" +
	"LAST=\"$FIRST-x\"\n"

func TestQuoteRoundTrip(t *testing.T) {
	for _, v := range trickyValues {
		data := []byte("A=1\nKEY=" + Quote(v) + "\nB=2\n")
		m := composeRead(t, data)
		if m["KEY"] != v {
			t.Errorf("Quote(%q) = %s: compose reads %q", v, Quote(v), m["KEY"])
		}
		if m["A"] != "1" || m["B"] != "2" {
			t.Errorf("Quote(%q) = %s: neighbours changed: %q", v, Quote(v), m)
		}
		f, err := Parse(data)
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		if got, ok := f.Get("KEY"); !ok || got != v {
			t.Errorf("Quote(%q): Get = %q, %v", v, got, ok)
		}
	}
}

func TestQuoteRepresentation(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "''"},
		{"abc", "abc"},
		{"a-b_c.d,e:f/g@h%i+j=k~l^m", "a-b_c.d,e:f/g@h%i+j=k~l^m"},
		{"with space", "'with space'"},
		{"$HOME", "'$HOME'"},
		{"#x", "'#x'"},
		{`a\b`, `'a\b'`},
		{"✓", "'✓'"},
		{"it's", `"it's"`},
		{"a\nb", `"a\nb"`},
		{"a\r\nb", `"a\r\nb"`},
		{`ends\`, `"ends\\"`},
		{`it's $x "q" \`, `"it's \$x \"q\" \\"`},
		{"it's\ta", `"it's\ta"`},
	}
	for _, tt := range tests {
		if got := Quote(tt.in); got != tt.want {
			t.Errorf("Quote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestSetRoundTrip(t *testing.T) {
	bases := map[string]string{
		"lf":        baseFile,
		"crlf":      strings.ReplaceAll(baseFile, "\n", "\r\n"),
		"no-eol":    strings.TrimSuffix(baseFile, "\n"),
		"bom":       "\ufeff" + baseFile,
		"empty":     "",
		"quoted":    "KEY=\"old\" # c\nOTHER=x\n",
		"single":    "KEY='old'\n",
		"glued":     "KEY=\"old\"TAIL\n",
		"empty-val": "KEY=\nOTHER=x\n",
	}
	for name, base := range bases {
		for _, v := range trickyValues {
			f, err := Parse([]byte(base))
			if err != nil {
				t.Fatalf("%s: Parse: %v", name, err)
			}
			before := composeRead(t, []byte(base))
			if err := f.Set("KEY", v); err != nil {
				t.Fatalf("%s: Set(%q): %v", name, v, err)
			}
			out := f.Bytes()
			after := composeRead(t, out)
			if after["KEY"] != v {
				t.Errorf("%s: Set(%q): compose reads %q\n%s", name, v, after["KEY"], out)
			}
			if got, ok := f.Get("KEY"); !ok || got != v {
				t.Errorf("%s: Set(%q): Get = %q, %v", name, v, got, ok)
			}
			for k, old := range before {
				if k != "KEY" && after[k] != old {
					t.Errorf("%s: Set(%q) changed %s from %q to %q", name, v, k, old, after[k])
				}
			}
			g, err := Parse(out)
			if err != nil {
				t.Fatalf("%s: reparse: %v", name, err)
			}
			if got, _ := g.Get("KEY"); got != v {
				t.Errorf("%s: Set(%q): reparsed Get = %q", name, v, got)
			}
		}
	}
}

func TestSetKeepsOtherBytes(t *testing.T) {
	for _, nl := range []string{"\n", "\r\n"} {
		lines := []string{
			"# comment with KEY=inside",
			"",
			"   ",
			"\t# indented comment",
			"export A=1",
			"B = 'two' # two",
			"C: \"th\\\"ree\"",
			"KEY=old value # keep me",
			"D=${A}$$",
			"E",
			"F='multi",
			"line'",
			"G=last",
		}
		src := strings.Join(lines, nl) + nl
		f, err := Parse([]byte(src))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f.Bytes(), []byte(src)) {
			t.Fatalf("Parse+Bytes changed the file")
		}
		if err := f.Set("KEY", "new 'secret' $x"); err != nil {
			t.Fatal(err)
		}
		got := strings.Split(string(f.Bytes()), nl)
		want := strings.Split(src, nl)
		if len(got) != len(want) {
			t.Fatalf("line count changed: %q", f.Bytes())
		}
		for i := range want {
			if i == 7 {
				if wantLine := `KEY="new 'secret' \$x" # keep me`; got[i] != wantLine {
					t.Errorf("edited line = %q, want %q", got[i], wantLine)
				}
				continue
			}
			if got[i] != want[i] {
				t.Errorf("line %d changed: %q -> %q", i+1, want[i], got[i])
			}
		}
		m := composeRead(t, f.Bytes())
		if m["KEY"] != "new 'secret' $x" || m["A"] != "1" || m["B"] != "two" || m["C"] != `th"ree` ||
			m["D"] != "1$" || m["F"] != "multi"+nl+"line" || m["G"] != "last" {
			t.Errorf("compose reads %q", m)
		}
	}
}

func TestSetLastOfDuplicates(t *testing.T) {
	src := "KEY=first\nOTHER=${KEY}\nKEY=second\n"
	if m := composeRead(t, []byte(src)); m["KEY"] != "second" {
		t.Fatalf("compose does not keep the last assignment: %q", m)
	}
	f, err := Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := f.Get("KEY"); v != "second" {
		t.Errorf("Get = %q, want second", v)
	}
	if err := f.Set("KEY", "third"); err != nil {
		t.Fatal(err)
	}
	if want := "KEY=first\nOTHER=${KEY}\nKEY=third\n"; string(f.Bytes()) != want {
		t.Errorf("Bytes = %q, want %q", f.Bytes(), want)
	}
	m := composeRead(t, f.Bytes())
	if m["KEY"] != "third" || m["OTHER"] != "first" {
		t.Errorf("compose reads %q", m)
	}
}

func TestSetAppends(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "KEY=v\n"},
		{"A=1\n", "A=1\nKEY=v\n"},
		{"A=1", "A=1\nKEY=v\n"},
		{"# c", "# c\nKEY=v\n"},
		{"A=1\r\nB=2\r\n", "A=1\r\nB=2\r\nKEY=v\r\n"},
		{"A=1\r\nB=2", "A=1\r\nB=2\r\nKEY=v\r\n"},
		{"\ufeff", "\ufeffKEY=v\n"},
		{"KEY\n", "KEY\nKEY=v\n"}, // a bare key is not an assignment
		{"export KEYS=1\n", "export KEYS=1\nKEY=v\n"},
	}
	for _, tt := range tests {
		f, err := Parse([]byte(tt.in))
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.in, err)
		}
		if err := f.Set("KEY", "v"); err != nil {
			t.Fatal(err)
		}
		if got := string(f.Bytes()); got != tt.want {
			t.Errorf("Set on %q = %q, want %q", tt.in, got, tt.want)
		}
		if m := composeRead(t, f.Bytes()); m["KEY"] != "v" {
			t.Errorf("compose reads %q", m)
		}
	}
}

func TestSetErrors(t *testing.T) {
	const secret = "s3cr3t-value"
	f, err := Parse([]byte(baseFile))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ key, value string }{
		{"", secret},
		{"1KEY", secret},
		{"KEY NAME", secret},
		{"KEY=", secret},
		{"KÉY", secret},
		{"KEY\n", secret},
		{"KEY", secret + "\x00"},
		{"KEY", secret + "\xff"},
		{"KEY", "\xc3" + secret},
	}
	for _, tt := range tests {
		err := f.Set(tt.key, tt.value)
		if err == nil {
			t.Errorf("Set(%q, %q) succeeded", tt.key, tt.value)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error contains the value: %v", err)
		}
	}
	if !bytes.Equal(f.Bytes(), []byte(baseFile)) {
		t.Errorf("failed Set changed the file")
	}
	for _, key := range []string{"_", "a", "A_B", "A.B", "A-B", "export", "a1"} {
		if err := f.Set(key, "v"); err != nil {
			t.Errorf("Set(%q): %v", key, err)
		}
	}
}

// parseCorpus holds files whose values exercise every branch of compose's
// parser; Parse must agree with compose-go on each.
var parseCorpus = []string{
	baseFile,
	"",
	"\n\n\n",
	"# only a comment",
	"A=1\nB=2",
	"A=1\r\nB='two'\r\nC=\"three\"\r\n",
	"export A=1\nexport\tB=2\nexportC=3\n",
	"A : yaml\nB:x\n",
	"A = spaced  \nB\t=\ttabbed\t\n",
	"A=unquoted # comment\nB=no#comment\nC=tab\t#comment\nD= # empty?\nE=#hash\n",
	"A='single # not comment' # comment\nB=\"double # not\"\n",
	"A='it\\'s'\nB=\"say \\\"hi\\\"\"\nC='back\\\\slash'\nD=\"back\\\\slash\"\n",
	"A=\"\\n\\t\\r\\a\\b\\f\\v\\\\\\$\\0101\\x41\\u0041\\q\"\n",
	"A='\\n\\t\\$'\n",
	"A=\"multi\nline\"\nB='multi\r\nline'\n",
	"A=1\nB=$A\nC=${A}\nD=${A:-def}\nE=${NOPE:-def}\nF=${NOPE-def}\nG=${A:+alt}\nH=${NOPE+alt}\nI=$$A\nJ=\"$A\"\nK='$A'\n",
	"A=\nB=${A:-empty}\nC=${A-unset}\nD=${A:+x}\nE=${A+y}\n",
	"A=1\nB=${A}}\nC=${A:-${A}x}\nD=$1 $ $- $A_B\nE=\"${A}\\$A\"\n",
	"A=x\nA=y\nB=$A\nA=z\n",
	"INHERITED\nA=1\nINHERITED\n",
	"A=1 B=2\n",
	"A=\"v\"B\n",
	"A=\"v\"  # comment\n",
	"A.B=1\nA-B=2\nA[0]=3\n_X=4\n1X=5\nÉ=6\n",
	"\ufeffA=bom\n",
	"A=\u00a0nbsp\u00a0\nB=x\u2003\n",
	"  \t  A=indented\n",
	"A=\"a\\\\\"\nB='a\\\\'\n",
	"A=unterminated'\nB=un\"terminated\n",
	"A=last line no newline",
	"A",
	"A=1\nB",
}

func TestParseMatchesCompose(t *testing.T) {
	for _, src := range parseCorpus {
		want, err := dotenv.ParseWithLookup(strings.NewReader(src), nil)
		if err != nil {
			t.Fatalf("compose-go rejects corpus file %q: %v", src, err)
		}
		f, err := Parse([]byte(src))
		if err != nil {
			t.Fatalf("Parse(%q): %v", src, err)
		}
		if !bytes.Equal(f.Bytes(), []byte(src)) {
			t.Errorf("Bytes() differs from input %q", src)
		}
		for k, v := range want {
			if got, ok := f.Get(k); !ok || got != v {
				t.Errorf("file %q: Get(%q) = %q, %v; compose reads %q", src, k, got, ok, v)
			}
		}
		for _, k := range f.Keys() {
			if _, ok := want[k]; !ok {
				t.Errorf("file %q: key %q not read by compose", src, k)
			}
		}
	}
}

func TestParseErrors(t *testing.T) {
	const secret = "hunter2-secret"
	tests := []string{
		"A='" + secret + "\n",
		"A=\"" + secret + "\nB=1\n",
		"A=\"" + secret + "\\\"\n",
		"A B=" + secret + "\n",
		"A!=" + secret + "\n",
		"ok=1\n" + secret + "!\n",
	}
	for _, src := range tests {
		if _, err := dotenv.ParseWithLookup(strings.NewReader(src), nil); err == nil {
			t.Errorf("compose-go accepts %q", src)
		}
		_, err := Parse([]byte(src))
		if err == nil {
			t.Errorf("Parse(%q) succeeded", src)
			continue
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "hunter") {
			t.Errorf("error contains the value: %v", err)
		}
		if !strings.Contains(err.Error(), "line ") {
			t.Errorf("error does not name the line: %v", err)
		}
	}
}

func TestGetInterpolationFailure(t *testing.T) {
	f, err := Parse([]byte("A=${NOPE:?must be set}\nB=${}\nC=ok\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Get("A"); ok {
		t.Errorf("Get(A) ok for a failing required variable")
	}
	if _, ok := f.Get("B"); ok {
		t.Errorf("Get(B) ok for an invalid template")
	}
	if v, ok := f.Get("C"); !ok || v != "ok" {
		t.Errorf("Get(C) = %q, %v", v, ok)
	}
	if _, ok := f.Get("MISSING"); ok {
		t.Errorf("Get(MISSING) ok")
	}
}

func TestParseDoesNotAlias(t *testing.T) {
	src := []byte("A=1\n")
	f, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	src[2] = '2'
	if v, _ := f.Get("A"); v != "1" {
		t.Errorf("File aliases its input")
	}
	b := f.Bytes()
	b[2] = '3'
	if v, _ := f.Get("A"); v != "1" {
		t.Errorf("Bytes aliases the File")
	}
}

func FuzzSetRoundTrip(f *testing.F) {
	for _, v := range trickyValues {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, value string) {
		if !utf8.ValidString(value) || strings.IndexByte(value, 0) >= 0 {
			file, _ := Parse([]byte(baseFile))
			if err := file.Set("KEY", value); err == nil {
				t.Fatalf("Set accepted an invalid value")
			}
			return
		}
		for _, base := range []string{baseFile, "KEY=\"old\"\n", ""} {
			file, err := Parse([]byte(base))
			if err != nil {
				t.Fatal(err)
			}
			if err := file.Set("KEY", value); err != nil {
				t.Fatalf("Set: %v", err)
			}
			m := composeRead(t, file.Bytes())
			if m["KEY"] != value {
				t.Fatalf("compose reads %q, want %q\n%s", m["KEY"], value, file.Bytes())
			}
			if got, ok := file.Get("KEY"); !ok || got != value {
				t.Fatalf("Get = %q, %v, want %q", got, ok, value)
			}
		}
	})
}

func FuzzParseMatchesCompose(f *testing.F) {
	for _, src := range parseCorpus {
		f.Add([]byte(src))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want, err := dotenv.ParseWithLookup(bytes.NewReader(data), nil)
		if err != nil {
			return // compose rejects it; Parse may reject it or fail on Get
		}
		file, err := Parse(data)
		if err != nil {
			t.Fatalf("compose accepts but Parse fails: %v", err)
		}
		if !bytes.Equal(file.Bytes(), data) {
			t.Fatalf("Bytes differs from the input")
		}
		for k, v := range want {
			if got, ok := file.Get(k); !ok || got != v {
				t.Fatalf("Get(%q) = %q, %v; compose reads %q", k, got, ok, v)
			}
		}
	})
}

// TestSetKeepsUnterminatedName: a file ending in a name alone without a newline (`A=1\nB`) means the
// same after Set appends a variable. compose reads that last line as nothing; appended after it with a
// newline in between, B would be taken from the environment (the old Set did that).
func TestSetKeepsUnterminatedName(t *testing.T) {
	env := func(k string) (string, bool) { return "from-env", true }
	for _, in := range []string{"A=1\nB", "A=1\r\nB", "B", "A=1\n  B", "A=1\nexport B"} {
		f, err := Parse([]byte(in))
		if err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		if err := f.Set("KEY", "v"); err != nil {
			t.Fatal(err)
		}
		before, err := dotenv.ParseWithLookup(strings.NewReader(in), env)
		if err != nil {
			t.Fatal(err)
		}
		after, err := dotenv.ParseWithLookup(bytes.NewReader(f.Bytes()), env)
		if err != nil {
			t.Fatalf("compose-go rejects %q: %v", f.Bytes(), err)
		}
		if after["KEY"] != "v" {
			t.Errorf("%q: KEY = %q after Set", in, after["KEY"])
		}
		delete(after, "KEY")
		if fmt.Sprint(before) != fmt.Sprint(after) {
			t.Errorf("Set on %q changed the meaning: %v, then %v (%q)", in, before, after, f.Bytes())
		}
	}
}
