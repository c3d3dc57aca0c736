package console

import (
	"fmt"
	"html"
	"html/template"
	"strings"
)

// kindStyle is how a kind of node looks: its colour and the word above its name.
var kindStyle = map[string]struct{ color, word string }{
	KindAPI:          {"#4263eb", "HTTP API"},
	KindFunction:     {"#e67700", "Lambda"},
	KindTable:        {"#1971c2", "DynamoDB"},
	KindBus:          {"#c2255c", "EventBridge bus"},
	KindRule:         {"#d6336c", "rule"},
	KindStateMachine: {"#9c36b5", "Step Functions"},
	KindQueue:        {"#d9480f", "SQS"},
	KindDLQ:          {"#c92a2a", "DLQ"},
	KindStream:       {"#6741d9", "Kinesis"},
	KindTopic:        {"#e8590c", "SNS"},
	KindLake:         {"#2b8a3e", "S3 data lake"},
}

// renderFlowSVG draws the flow as an inline SVG: a box per node (kind, name, detail and
// a counter line the page's script fills in, id "c-<LogicalId>"), an arrow per edge.
func renderFlowSVG(f *Flow) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg id="flow" class="flow" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" role="img" aria-label="The flow of orders through the stack, drawn from template.yaml">`,
		f.W, f.H, f.W, f.H)
	b.WriteString(`<defs>` +
		`<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#868e96"/></marker>` +
		`<marker id="arrow-fail" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#e03131"/></marker>` +
		`</defs>`)
	// The DLQ lane's caption.
	for _, n := range f.Nodes {
		if n.Kind == KindDLQ {
			fmt.Fprintf(&b, `<text class="lane" x="%.0f" y="%.0f">failures land here ↓</text>`, margin, n.Y-14)
			break
		}
	}
	back := 0
	for _, e := range f.Edges {
		from, to := f.byID[e.From], f.byID[e.To]
		var d string
		switch {
		case e.Failure:
			x1, y1 := from.X+from.W/2, from.Y+from.H
			x2, y2 := to.X+to.W/2, to.Y
			d = fmt.Sprintf("M%.0f,%.0f C%.0f,%.0f %.0f,%.0f %.0f,%.0f", x1, y1, x1, y1+40, x2, y2-40, x2, y2)
		case e.Back && from.Col == to.Col:
			x := to.X + to.W/2
			if to.Row > from.Row {
				d = fmt.Sprintf("M%.0f,%.0f L%.0f,%.0f", x, from.Y+from.H, x, to.Y)
			} else {
				d = fmt.Sprintf("M%.0f,%.0f L%.0f,%.0f", x, from.Y, x, to.Y+to.H)
			}
		case e.Back:
			// Out of the source's right side, up the gap after its column to a channel
			// above every node, left to the gap before the target's column, down and into
			// the target's left side: across edges, never across a box.
			back++
			x1, y1 := from.X+from.W, from.Y+from.H*0.75
			gs := from.X + from.W + 12 + float64(back%3)*5
			ch := margin + 4 + float64(back%5)*5
			gx := to.X - 10 - float64(back%3)*5
			y2 := to.Y + to.H*0.3
			d = fmt.Sprintf("M%.0f,%.0f L%.0f,%.0f Q%.0f,%.0f %.0f,%.0f L%.0f,%.0f Q%.0f,%.0f %.0f,%.0f L%.0f,%.0f Q%.0f,%.0f %.0f,%.0f L%.0f,%.0f Q%.0f,%.0f %.0f,%.0f",
				x1, y1, gs-8, y1, gs, y1, gs, y1-8, gs, ch+8, gs, ch, gs-8, ch, gx+8, ch, gx, ch, gx, ch+8, gx, y2-8, gx, y2, gx+8, y2)
		default:
			x1, y1 := from.X+from.W, from.Y+from.H/2
			x2, y2 := to.X, to.Y+to.H/2
			mid := (x1 + x2) / 2
			d = fmt.Sprintf("M%.0f,%.0f C%.0f,%.0f %.0f,%.0f %.0f,%.0f", x1, y1, mid, y1, mid, y2, x2, y2)
		}
		class, marker := "edge", "arrow"
		if e.Failure {
			class, marker = "edge fail", "arrow-fail"
		} else if e.Back {
			class = "edge back"
		}
		title := label(e.From) + " → " + label(e.To)
		if e.Label != "" {
			title += ": " + e.Label
		}
		fmt.Fprintf(&b, `<path class="%s" data-from="%s" data-to="%s" d="%s" marker-end="url(#%s)"><title>%s</title></path>`,
			class, e.From, e.To, d, marker, html.EscapeString(title))
	}
	for _, n := range f.Nodes {
		st := kindStyle[n.Kind]
		fmt.Fprintf(&b, `<g class="node %s" id="n-%s" data-id="%s">`, n.Kind, n.ID, n.ID)
		fmt.Fprintf(&b, `<title>%s (%s)</title>`, html.EscapeString(n.ID), html.EscapeString(st.word))
		fmt.Fprintf(&b, `<rect class="box" x="%.0f" y="%.0f" width="%.0f" height="%.0f" rx="8"/>`, n.X, n.Y, n.W, n.H)
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="5" height="%.0f" rx="2" fill="%s"/>`, n.X, n.Y, n.H, st.color)
		fmt.Fprintf(&b, `<text class="kind" x="%.0f" y="%.0f" fill="%s">%s</text>`, n.X+13, n.Y+14, st.color, html.EscapeString(strings.ToUpper(st.word)))
		fmt.Fprintf(&b, `<text class="name" x="%.0f" y="%.0f">%s</text>`, n.X+13, n.Y+30, html.EscapeString(clip(n.Label, 27)))
		if n.Detail != "" {
			fmt.Fprintf(&b, `<text class="detail" x="%.0f" y="%.0f"><title>%s</title>%s</text>`, n.X+13, n.Y+43,
				html.EscapeString(n.Detail), html.EscapeString(clip(n.Detail, 36)))
		}
		fmt.Fprintf(&b, `<text class="counter" id="c-%s" x="%.0f" y="%.0f"></text>`, n.ID, n.X+13, n.Y+n.H-6)
		b.WriteString(`</g>`)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every name and label above is escaped
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
