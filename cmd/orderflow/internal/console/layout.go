package console

import (
	"sort"
)

// Geometry of the picture, in SVG units.
const (
	nodeW, nodeH = 196.0, 62.0
	colGap       = 240.0
	rowGap       = 84.0
	margin       = 24.0
	laneGap      = 40.0 // between the flow and the DLQ lane
)

// layout places the nodes in columns: the API first, then each node one column after the
// nearest node that feeds it (breadth first along the non-failure edges, so a cycle such as
// a function writing back to the table that fed it cannot push columns to the right);
// within a column, in the order of what feeds them. DLQs go in a lane under the flow, in
// the column of what fails into them. Edges into an earlier or the same column are Back.
func (f *Flow) layout() {
	col := map[string]int{}
	var queue []string
	for _, n := range f.Nodes {
		if n.Kind == KindAPI {
			col[n.ID] = 0
			queue = append(queue, n.ID)
		}
	}
	if len(queue) == 0 { // no API: start from whatever nothing feeds
		fed := map[string]bool{}
		for _, e := range f.Edges {
			fed[e.To] = true
		}
		for _, n := range f.Nodes {
			if !fed[n.ID] && n.Kind != KindDLQ {
				col[n.ID] = 0
				queue = append(queue, n.ID)
			}
		}
	}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		for _, e := range f.Edges {
			if e.From != id || e.Failure {
				continue
			}
			if _, done := col[e.To]; !done {
				col[e.To] = col[id] + 1
				queue = append(queue, e.To)
			}
		}
	}
	// Unreached (and DLQs): one column after their first placed source.
	for changed := true; changed; {
		changed = false
		for _, e := range f.Edges {
			if _, ok := col[e.To]; !ok {
				if c, ok := col[e.From]; ok {
					col[e.To] = c
					if !e.Failure {
						col[e.To] = c + 1
					}
					changed = true
				}
			}
		}
	}
	for _, n := range f.Nodes {
		n.Col = col[n.ID]
	}
	// Rows: by the mean row of the nodes feeding each one, column by column.
	maxCol := 0
	for _, n := range f.Nodes {
		maxCol = max(maxCol, n.Col)
	}
	rows := 0
	placed := map[string]float64{}
	for c := 0; c <= maxCol; c++ {
		var in []*Node
		for _, n := range f.Nodes {
			if n.Col == c && n.Kind != KindDLQ {
				in = append(in, n)
			}
		}
		key := map[string]float64{}
		for _, n := range in {
			sum, cnt := 0.0, 0.0
			for _, e := range f.Edges {
				if e.To == n.ID && !e.Failure {
					if r, ok := placed[e.From]; ok && f.byID[e.From].Col < c {
						sum, cnt = sum+r, cnt+1
					}
				}
			}
			key[n.ID] = 1e9
			if cnt > 0 {
				key[n.ID] = sum / cnt
			}
		}
		sort.SliceStable(in, func(i, j int) bool {
			if key[in[i].ID] != key[in[j].ID] {
				return key[in[i].ID] < key[in[j].ID]
			}
			return in[i].ID < in[j].ID
		})
		for i, n := range in {
			n.Row = i
			placed[n.ID] = float64(i)
		}
		rows = max(rows, len(in))
	}
	// DLQ lane.
	lane := map[int]int{}
	dlqRows := 0
	var dlqs []*Node
	for _, n := range f.Nodes {
		if n.Kind == KindDLQ {
			dlqs = append(dlqs, n)
		}
	}
	sort.Slice(dlqs, func(i, j int) bool {
		if dlqs[i].Col != dlqs[j].Col {
			return dlqs[i].Col < dlqs[j].Col
		}
		return dlqs[i].ID < dlqs[j].ID
	})
	for _, n := range dlqs {
		// Two DLQs in one column go side by side in the next free column of the lane.
		for lane[n.Col] > 0 && n.Col < maxCol {
			n.Col++
		}
		n.Row = rows + lane[n.Col]
		lane[n.Col]++
		dlqRows = max(dlqRows, lane[n.Col])
	}
	for _, n := range f.Nodes {
		n.W, n.H = nodeW, nodeH
		n.X = margin + float64(n.Col)*colGap
		n.Y = margin + 34 + float64(n.Row)*rowGap
		if n.Kind == KindDLQ {
			n.Y += laneGap
		}
	}
	for i, e := range f.Edges {
		f.Edges[i].Back = f.byID[e.To].Col <= f.byID[e.From].Col && !e.Failure
	}
	f.W = margin*2 + float64(maxCol)*colGap + nodeW
	f.H = margin*2 + 34 + float64(rows+dlqRows)*rowGap + laneGap
}
