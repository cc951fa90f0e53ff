package redact

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	r := New("hunter2", "hunter2-long", "", "pw", "abcd", "cdef")
	tests := []struct{ in, want string }{
		{"", ""},
		{"nothing here", "nothing here"},
		{"password=hunter2", "password=[redacted]"},
		{"password=hunter2-long!", "password=[redacted]!"},       // longest first: no "-long" left
		{"hunter2hunter2", "[redacted]"},                         // adjacent occurrences: one marker
		{"a hunter2 b hunter2 c", "a [redacted] b [redacted] c"}, // every occurrence
		{"abcdef", "[redacted]"},                                 // overlapping secrets: nothing left
		{"xcdefx abcdx", "x[redacted]x [redacted]x"},
		{"pw", "[redacted]"}, // short secrets are redacted too
		{"pwpwp", "[redacted]p"},
		{"multi\nline hunter2\n", "multi\nline [redacted]\n"},
	}
	for _, tt := range tests {
		if got := r.String(tt.in); got != tt.want {
			t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNoSecrets(t *testing.T) {
	for _, r := range []*Redactor{nil, New(), New("", "")} {
		if got := r.String("text"); got != "text" {
			t.Errorf("String = %q", got)
		}
		var out bytes.Buffer
		w := r.Writer(&out)
		fmt.Fprint(w, "text")
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if out.String() != "text" {
			t.Errorf("Writer = %q", out.String())
		}
	}
}

func TestWriterSplitSecret(t *testing.T) {
	r := New("s3cr3t-t0k3n")
	var out bytes.Buffer
	w := r.Writer(&out)
	for _, chunk := range []string{"token: s3c", "r3t-", "t0k3n", " and s", "3cr3t-t0k3n\n", "tail s3cr3t"} {
		if _, err := io.WriteString(w, chunk); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out.String(), "t0k3n") {
			t.Fatalf("secret passed through: %q", out.String())
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if want := "token: [redacted] and [redacted]\ntail s3cr3t"; out.String() != want {
		t.Errorf("output = %q, want %q", out.String(), want)
	}
}

func TestWriterByteByByte(t *testing.T) {
	r := New("abcd", "cdef", "xyz")
	in := "..abcdef..xyzxyz..abc..cdefab..ab"
	var out bytes.Buffer
	w := r.Writer(&out)
	for i := range len(in) {
		if _, err := w.Write([]byte{in[i]}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), r.String(in); got != want {
		t.Errorf("byte by byte = %q, String = %q", got, want)
	}
}

// TestWriterMatchesString checks that the output never depends on how the
// input is split into writes.
func TestWriterMatchesString(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := "ab-"
	for range 2000 {
		var secrets []string
		for range 1 + rng.IntN(3) {
			secrets = append(secrets, randString(rng, alphabet, 1+rng.IntN(5)))
		}
		r := New(secrets...)
		in := randString(rng, alphabet, rng.IntN(60))
		var out bytes.Buffer
		w := r.Writer(&out)
		for rest := in; rest != ""; {
			n := min(len(rest), rng.IntN(8))
			if _, err := io.WriteString(w, rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if got, want := out.String(), r.String(in); got != want {
			t.Fatalf("secrets %q, input %q: Writer = %q, String = %q", secrets, in, got, want)
		}
	}
}

// TestWriterLongRun checks that a never-ending run of covered bytes does not
// make the writer buffer without bound.
func TestWriterLongRun(t *testing.T) {
	r := New("aaaa")
	var out bytes.Buffer
	w := r.Writer(&out)
	for range 10000 {
		if _, err := io.WriteString(w, "aaaaaaaa"); err != nil {
			t.Fatal(err)
		}
	}
	if len(w.buf) > 8 {
		t.Errorf("buffered %d bytes", len(w.buf))
	}
	io.WriteString(w, "b")
	w.Close()
	if out.String() != "[redacted]b" {
		t.Errorf("output = %q", out.String())
	}
}

func randString(rng *rand.Rand, alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

func TestWriterError(t *testing.T) {
	boom := errors.New("boom")
	w := New("secret").Writer(failWriter{boom})
	if _, err := io.WriteString(w, "some long text that is flushed"); !errors.Is(err, boom) {
		t.Errorf("Write err = %v", err)
	}
	if _, err := io.WriteString(w, "more"); !errors.Is(err, boom) {
		t.Errorf("second Write err = %v", err)
	}
	if err := w.Close(); !errors.Is(err, boom) {
		t.Errorf("Close err = %v", err)
	}
}

func TestError(t *testing.T) {
	r := New("hunter2")
	if r.Error(nil) != nil {
		t.Errorf("Error(nil) != nil")
	}
	base := fmt.Errorf("failed to login with hunter2: %w", fs.ErrPermission)
	err := r.Error(base)
	if err.Error() != "failed to login with [redacted]: permission denied" {
		t.Errorf("Error() = %q", err.Error())
	}
	if !errors.Is(err, fs.ErrPermission) {
		t.Errorf("errors.Is lost the wrapped error")
	}
	if s := fmt.Sprintf("%v %s", err, err); strings.Contains(s, "hunter2") {
		t.Errorf("formatted error leaks: %s", s)
	}
	wrapped := fmt.Errorf("outer: %w", err)
	if strings.Contains(wrapped.Error(), "hunter2") {
		t.Errorf("wrapping leaks: %s", wrapped)
	}
}

func TestRedactorNotPrinted(t *testing.T) {
	r := New("hunter2")
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		if s := fmt.Sprintf(format, r); strings.Contains(s, "hunter2") || strings.Contains(s, fmt.Sprintf("%x", "hunter2")) {
			t.Errorf("%s prints a secret: %s", format, s)
		}
	}
	if s := fmt.Sprintf("%v %+v %#v", *r, *r, *r); strings.Contains(s, "hunter2") {
		t.Errorf("a Redactor value prints a secret: %s", s)
	}
	var nilR *Redactor
	if s := fmt.Sprintf("%v", nilR); s != "<nil>" {
		t.Errorf("nil Redactor prints %q", s)
	}
}

// TestJSONEscapedForm: a value written into JSON output is escaped; the escaped form is hidden too.
func TestJSONEscapedForm(t *testing.T) {
	r := New(`p<ss"w0rd&x\y`)
	out := r.String(`{"reason":"p\u003css\"w0rd\u0026x\\y"}`)
	if strings.Contains(out, "w0rd") {
		t.Errorf("the JSON-escaped value shows: %s", out)
	}
}

// TestCommonWordsAreLeftAlone: a value that is a common word ("postgres", "admin") would eat the word from
// paths and service names; it is not redacted, while the other values still are.
func TestCommonWordsAreLeftAlone(t *testing.T) {
	r := New("postgres", "Admin", "kT4-pw-9x")
	in := "project /srv/postgres-stack: service postgres, user admin, password kT4-pw-9x\n"
	want := "project /srv/postgres-stack: service postgres, user admin, password [redacted]\n"
	if got := r.ForReport().String(in); got != want {
		t.Errorf("ForReport: got %q, want %q", got, want)
	}
	// Logs, errors and alerts hide every value, a common word too.
	if got := r.String("auth failed for Admin with postgres"); got != "auth failed for [redacted] with [redacted]" {
		t.Errorf("New: got %q", got)
	}
}
