package envfile

import (
	"maps"
	"testing"
)

// TestValues: one pass gives each key what compose would read — later assignments win, references use
// the values before them, a failed interpolation leaves the key out, a bare name is inherited (not read).
func TestValues(t *testing.T) {
	f, err := Parse([]byte("# c\nA=1\nB=${A}x\nexport C='q'\nD=\"${B} ${NOPE:-d}\"\nA=2\nINHERITED\nE=${UNSET?must be set}\nF=last\nF=${A}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"A": "2", "B": "1x", "C": "q", "D": "1x d", "F": "2"}
	if got := f.Values(); !maps.Equal(got, want) {
		t.Errorf("Values = %v, want %v", got, want)
	}
	for k, v := range want {
		if got, ok := f.Get(k); !ok || got != v {
			t.Errorf("Get(%s) = %q, %v; want %q", k, got, ok, v)
		}
	}
	for _, k := range []string{"E", "INHERITED", "NOPE"} {
		if _, ok := f.Get(k); ok {
			t.Errorf("Get(%s) found a value", k)
		}
	}
}
