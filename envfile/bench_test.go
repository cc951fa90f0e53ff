package envfile

import (
	"bytes"
	"fmt"
	"testing"
)

// envOfSize returns a dotenv file of about n bytes mixing the forms compose reads: bare, quoted,
// interpolated and commented assignments.
func envOfSize(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		switch i % 4 {
		case 0:
			fmt.Fprintf(&b, "VAR_%d=plain-value-%d\n", i, i)
		case 1:
			fmt.Fprintf(&b, "VAR_%d='single quoted %d'\n", i, i)
		case 2:
			fmt.Fprintf(&b, "VAR_%d=\"double ${VAR_%d} %d\"\n", i, i-2, i)
		default:
			fmt.Fprintf(&b, "# comment %d\nexport VAR_%d=x # trailing\n", i, i)
		}
	}
	return b.Bytes()
}

// BenchmarkParse5MB parses a 5 MB .env and reads every value, as a plan does.
func BenchmarkParse5MB(b *testing.B) {
	data := envOfSize(5 << 20)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		f, err := Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		if len(f.Values()) == 0 {
			b.Fatal("no values")
		}
	}
}

// BenchmarkSet5MB changes one value of a 5 MB .env, as a rotation's write does.
func BenchmarkSet5MB(b *testing.B) {
	data := envOfSize(5 << 20)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		f, err := Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		if err := f.Set("VAR_8", "new-value"); err != nil {
			b.Fatal(err)
		}
	}
}
