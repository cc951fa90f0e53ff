package main

import (
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/report"
)

func TestInventoryFormat(t *testing.T) {
	tests := []struct {
		format string
		json   bool
		want   string
		err    string
	}{
		{"", false, report.FormatTable, ""},
		{"", true, report.FormatJSON, ""},
		{"json", true, report.FormatJSON, ""},
		{"mermaid", false, report.FormatMermaid, ""},
		{"dot", true, "", "--output json and --format dot disagree"},
		{"yaml", false, "", `--format must be table, json, mermaid or dot, got "yaml"`},
	}
	for _, tt := range tests {
		got, err := inventoryFormat(tt.format, tt.json)
		if got != tt.want || (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("inventoryFormat(%q, %v) = %q, %v; want %q, %q", tt.format, tt.json, got, err, tt.want, tt.err)
		}
	}
}
