// Package report builds the read-only reports of a desired state: the history of its commits and
// transactions (`rekey history`), the dependency map (`rekey inventory`) and the operator's runbook
// (`rekey runbook`). It takes plain inputs (the parsed config, the desired state, the journal's records,
// the repository) and renders its own formats; it never changes anything and never prints a value.
package report

import (
	"encoding/json"
	"io"
)

// WriteJSON writes v as indented JSON, as every JSON output of rekey.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
