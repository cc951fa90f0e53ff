package generate

import (
	"strings"
	"testing"
)

func TestValue(t *testing.T) {
	for cs, alphabet := range charsets {
		seen := map[string]bool{}
		counts := map[rune]int{}
		for i := 0; i < 200; i++ {
			v, err := Value(40, cs)
			if err != nil {
				t.Fatal(err)
			}
			if len(v) != 40 {
				t.Fatalf("%s: length %d", cs, len(v))
			}
			for _, c := range v {
				if !strings.ContainsRune(alphabet, c) {
					t.Fatalf("%s: %q outside the charset", cs, c)
				}
				counts[c]++
			}
			if seen[v] {
				t.Fatalf("%s: repeated value", cs)
			}
			seen[v] = true
		}
		if len(counts) != len(alphabet) {
			t.Errorf("%s: %d of %d characters ever drawn in 8000", cs, len(counts), len(alphabet))
		}
	}
	if v, _ := Value(0, ""); len(v) != 32 {
		t.Errorf("default length %d", len(v))
	}
	if _, err := Value(10, "emoji"); err == nil {
		t.Error("unknown charset accepted")
	}
}
