package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestB2pBuckets(t *testing.T) {
	events := []b2Event{{end: 50 * time.Millisecond}, {end: 150 * time.Millisecond, failed: true},
		{end: 180 * time.Millisecond}, {end: 5 * time.Second}} // past the last bucket: counted in it
	ok, failed := b2pBuckets(events, 3)
	if ok[0] != 1 || ok[1] != 1 || failed[1] != 1 || ok[2] != 1 || failed[0]+failed[2] != 0 {
		t.Errorf("ok %v, failed %v", ok, failed)
	}
}

// TestB2PlotMarksFailures: a panel with one failed request gets a red bar and a red mark; one without none.
func TestB2PlotMarksFailures(t *testing.T) {
	res := func(failed bool) b2pResult {
		r := b2pResult{events: []b2Event{{end: 100 * time.Millisecond}, {end: 300 * time.Millisecond, failed: failed}}, end: time.Second}
		if failed {
			r.failed = 1
		}
		r.requests = 2
		return r
	}
	path := filepath.Join(t.TempDir(), "p.svg")
	if err := writeB2PlotSVG(path, "caption <&>", 1, 2, []b2pPanel{{"a", res(true)}, {"b", res(false)}}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	svg := string(data)
	if n := strings.Count(svg, `fill="#d62728"/>`); n != 2 {
		t.Errorf("%d red shapes, want 2 (one bar, one mark):\n%s", n, svg)
	}
	if !strings.Contains(svg, "caption &lt;&amp;&gt;") || !strings.HasSuffix(svg, "</svg>\n") {
		t.Errorf("caption not escaped or svg not closed:\n%s", svg)
	}
}
