package cli

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"time"
)

// Histogram is a latency histogram of equal-width bins from 0 to Max.
type Histogram struct {
	Width  time.Duration // of one bin
	Counts []int
}

// NewHistogram puts ds into bins equal-width bins spanning 0 to the largest value.
func NewHistogram(ds []time.Duration, bins int) Histogram {
	var hi time.Duration
	for _, d := range ds {
		hi = max(hi, d)
	}
	width := max(time.Duration(math.Ceil(float64(hi+1)/float64(bins))), 1)
	h := Histogram{Width: width, Counts: make([]int, bins)}
	for _, d := range ds {
		i := min(int(d/width), bins-1)
		h.Counts[i]++
	}
	return h
}

// svgEscape escapes s for XML text and attribute values.
func svgEscape(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s)) // writes to a bytes.Buffer: cannot fail
	return b.String()
}

// writeHistogramSVG writes a bar chart of the latencies with p50/p95/p99 markers as a
// self-contained SVG document.
func writeHistogramSVG(w io.Writer, title string, ds []time.Duration) error {
	const (
		width, height          = 800, 420
		left, right, top, bott = 60, 20, 40, 50
		bins                   = 40
	)
	plotW, plotH := float64(width-left-right), float64(height-top-bott)
	h := NewHistogram(ds, bins)
	s := Summarize(ds)
	peak := 1
	for _, c := range h.Counts {
		peak = max(peak, c)
	}
	span := float64(h.Width) * bins
	x := func(d time.Duration) float64 { return float64(left) + float64(d)/span*plotW }

	var b bytes.Buffer
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>`+"\n")
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect x="0" y="0" width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="16">%s</text>`+"\n", left, svgEscape(title))
	// Axes.
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", left, height-bott, width-right, height-bott)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", left, top, left, height-bott)
	// Bars.
	barW := plotW / bins
	for i, c := range h.Counts {
		if c == 0 {
			continue
		}
		bh := float64(c) / float64(peak) * plotH
		lo, hi := time.Duration(i)*h.Width, time.Duration(i+1)*h.Width
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#4a7ab5"><title>%s</title></rect>`+"\n",
			float64(left)+float64(i)*barW+0.5, float64(height-bott)-bh, max(barW-1, 0.5), bh,
			svgEscape(fmt.Sprintf("%v–%v: %d orders", roundDuration(lo), roundDuration(hi), c)))
	}
	// X ticks: five labels along the latency axis.
	for i := 0; i <= 4; i++ {
		d := time.Duration(span * float64(i) / 4)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x(d), height-bott+18, svgEscape(roundDuration(d).String()))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">latency, POST to terminal status</text>`+"\n", float64(left)+plotW/2, height-10)
	// Y ticks: zero and the peak.
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">0</text>`+"\n", left-6, height-bott)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%d</text>`+"\n", left-6, top+10, peak)
	fmt.Fprintf(&b, `<text x="14" y="%.1f" transform="rotate(-90 14 %.1f)" text-anchor="middle">orders</text>`+"\n", float64(top)+plotH/2, float64(top)+plotH/2)
	// Percentile markers.
	if s.N > 0 {
		for i, p := range []struct {
			name string
			d    time.Duration
			col  string
		}{{"p50", s.P50, "#2a9d3a"}, {"p95", s.P95, "#e08a00"}, {"p99", s.P99, "#c0392b"}} {
			px := x(p.d)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-dasharray="4 3"/>`+"\n", px, top, px, height-bott, p.col)
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" fill="%s">%s</text>`+"\n", px+3, top+12+14*i, p.col, svgEscape(fmt.Sprintf("%s %v", p.name, roundDuration(p.d))))
		}
	}
	fmt.Fprintf(&b, "</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}
