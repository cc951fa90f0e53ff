package main

import (
	"fmt"
	"html"
	"os"
	"strings"
	"time"
)

// The plot of B2 through the proxy: one panel per rotation (rows) and method (columns), requests finished
// per 100 ms bucket over the time of the load, served in blue, failed in red (stacked above, and a red mark
// under the axis wherever a bucket holds a failure, so that one failed request stays visible), the change
// (rekey apply, or the procedure by hand) shaded. An SVG from the standard library only.

const (
	b2pBucket            = 100 * time.Millisecond
	plotW, plotH         = 230, 90 // one panel's plot area
	plotLeft, plotTop    = 34, 30  // margins inside a panel
	panelW, panelH       = plotW + plotLeft + 12, plotH + plotTop + 30
	plotHead, plotMargin = 50, 8
)

// b2pPanel is one measured rotation to draw.
type b2pPanel struct {
	title string
	res   b2pResult
}

// b2pBuckets counts served and failed requests per bucket.
func b2pBuckets(events []b2Event, n int) (ok, failed []int) {
	ok, failed = make([]int, n), make([]int, n)
	for _, e := range events {
		i := int(e.end / b2pBucket)
		if i >= n {
			i = n - 1
		}
		if e.failed {
			failed[i]++
		} else {
			ok[i]++
		}
	}
	return ok, failed
}

// writeB2PlotSVG draws rows × cols panels (row-major) into path.
func writeB2PlotSVG(path, caption string, rows, cols int, panels []b2pPanel) error {
	var span time.Duration
	for _, p := range panels {
		for _, e := range p.res.events {
			span = max(span, e.end)
		}
	}
	n := int(span/b2pBucket) + 1
	top := 1
	for _, p := range panels {
		ok, failed := b2pBuckets(p.res.events, n)
		for i := range ok {
			top = max(top, ok[i]+failed[i])
		}
	}
	var b strings.Builder
	w, h := plotMargin*2+cols*panelW, plotHead+rows*panelH+plotMargin
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="10">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="13">%s</text>`+"\n", plotMargin, html.EscapeString(caption))
	fmt.Fprintf(&b, `<text x="%d" y="36" fill="#555">requests finished per %s: <tspan fill="#4a78b5">served</tspan>, <tspan fill="#d62728">failed</tspan> (red mark under the axis: a bucket with a failure); shaded: the change; x: seconds since the load started</text>`+"\n", plotMargin, b2pBucket)
	for k, p := range panels {
		x0, y0 := plotMargin+(k%cols)*panelW, plotHead+(k/cols)*panelH
		b2pDrawPanel(&b, x0, y0, n, top, p)
	}
	b.WriteString("</svg>\n")
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func b2pDrawPanel(b *strings.Builder, x0, y0, n, top int, p b2pPanel) {
	px, py := x0+plotLeft, y0+plotTop
	bw := float64(plotW) / float64(n)
	at := func(d time.Duration) float64 { return float64(px) + float64(d)/float64(b2pBucket)*bw }
	fmt.Fprintf(b, `<text x="%d" y="%d" font-weight="bold">%s</text>`+"\n", x0+4, y0+12, html.EscapeString(p.title))
	fmt.Fprintf(b, `<text x="%d" y="%d" fill="%s">%d failed of %d, slowest %s</text>`+"\n", x0+4, y0+24,
		map[bool]string{true: "#d62728", false: "#2a7a2a"}[p.res.failed > 0], p.res.failed, p.res.requests, round(p.res.slowest))
	fmt.Fprintf(b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="#f3e9b5"/>`+"\n", at(p.res.start), py, max(at(p.res.end)-at(p.res.start), 1), plotH)
	ok, failed := b2pBuckets(p.res.events, n)
	scale := float64(plotH) / float64(top)
	for i := range ok {
		x := float64(px) + float64(i)*bw
		hOK, hFail := float64(ok[i])*scale, float64(failed[i])*scale
		if ok[i] > 0 {
			fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#4a78b5"/>`+"\n", x, float64(py+plotH)-hOK, bw, hOK)
		}
		if failed[i] > 0 {
			fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#d62728"/>`+"\n", x, float64(py+plotH)-hOK-hFail, bw, hFail)
			fmt.Fprintf(b, `<rect x="%.1f" y="%d" width="%.1f" height="5" fill="#d62728"/>`+"\n", x, py+plotH+2, max(bw, 1.5))
		}
	}
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`+"\n", px, py+plotH, px+plotW, py+plotH)
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`+"\n", px, py, px, py+plotH)
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="end">%d</text>`+"\n", px-3, py+8, top)
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="end">0</text>`+"\n", px-3, py+plotH)
	for s := 0; time.Duration(s)*time.Second < time.Duration(n)*b2pBucket; s += 2 {
		x := at(time.Duration(s) * time.Second)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%d</text>`+"\n", x, py+plotH+18, s)
	}
}
