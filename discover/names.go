package discover

import (
	"fmt"
	"path/filepath"
	"strings"
)

// isPreviousName says a variable looks like the previous value of an app key (SESSION_SECRET_PREVIOUS).
func isPreviousName(name string) bool {
	return strings.HasSuffix(name, "_PREVIOUS") || strings.HasSuffix(name, "_OLD") || strings.HasSuffix(name, "_PREV")
}

// secretNameFor turns a variable or compose secret name into a unique secret name of rekey.yaml.
func secretNameFor(v string, used map[string]bool) string {
	b := []byte(strings.ToLower(v))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			b[i] = '-'
		}
	}
	name := strings.Trim(string(b), "-.")
	if name == "" {
		name = "secret"
	}
	if len(name) > 58 {
		name = name[:58]
	}
	base := name
	for i := 2; used[name]; i++ {
		name = fmt.Sprintf("%s-%d", base, i)
	}
	used[name] = true
	return name
}

// within reports whether path is strictly inside dir.
func within(dir, path string) (string, bool) {
	rel, err := filepath.Rel(dir, path)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	return rel, true
}
