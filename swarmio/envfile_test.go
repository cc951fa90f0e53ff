package swarmio

import (
	"strings"
	"testing"
)

// TestDockerEnvValue: the Docker CLI's reading of an env_file, which differs from compose's: quotes and
// a trailing comment are part of the value, the last assignment wins, a bare name is refused.
func TestDockerEnvValue(t *testing.T) {
	file := "\xef\xbb\xbf# comment\nA=plain\n  B='quoted'\nC=x # not a comment\nA=second\n\nD\n"
	for name, want := range map[string]string{"A": "second", "B": "'quoted'", "C": "x # not a comment", "Z": ""} {
		got, line, err := DockerEnvValue([]byte(file), name)
		if err != nil || got != want {
			t.Errorf("%s: got %q (line %d), %v; want %q", name, got, line, err, want)
		}
		if (name == "Z") != (line == 0) {
			t.Errorf("%s: line %d", name, line)
		}
	}
	if _, line, _ := DockerEnvValue([]byte(file), "A"); line != 5 {
		t.Errorf("A assigned last on line %d, want 5", line)
	}
	if _, _, err := DockerEnvValue([]byte(file), "D"); err == nil || !strings.Contains(err.Error(), "line 7") {
		t.Errorf("a bare name: %v, want a refusal naming line 7", err)
	}
	if _, _, err := DockerEnvValue([]byte("A=\xff\n"), "A"); err == nil {
		t.Error("invalid UTF-8 accepted")
	}
	if got, _, _ := DockerEnvValue([]byte("A=v\r\n"), "A"); got != "v" {
		t.Errorf("CRLF: got %q", got)
	}
}
