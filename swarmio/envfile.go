package swarmio

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DockerEnvValue reads variable name from an env_file as `docker stack deploy` does (the Docker CLI's
// env-file parser, not compose's dotenv): a line is NAME=VALUE with VALUE taken raw — no quotes removed,
// no comment after it, no interpolation — and the last assignment wins. It returns the value and its
// line (0 when no line assigns name). A bare `NAME` line takes the value from the deploying process's
// environment, which rekey cannot write: an error naming the line.
func DockerEnvValue(data []byte, name string) (value string, line int, err error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), len(data)+1)
	for n := 1; sc.Scan(); n++ {
		raw := sc.Bytes()
		if !utf8.Valid(raw) {
			return "", 0, fmt.Errorf("line %d: invalid UTF-8 (docker stack deploy refuses the file)", n)
		}
		if n == 1 {
			raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))
		}
		text := strings.TrimLeftFunc(string(raw), unicode.IsSpace)
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		k, v, assigned := strings.Cut(text, "=")
		if strings.TrimLeft(k, " \t") != name {
			continue
		}
		if !assigned {
			return "", 0, fmt.Errorf("line %d: %s has no value: docker stack deploy would take it from its own environment, which rekey does not write; assign it (%s=…)", n, name, name)
		}
		value, line = v, n
	}
	if err := sc.Err(); err != nil {
		return "", 0, fmt.Errorf("failed to read: %w", err)
	}
	return value, line, nil
}
