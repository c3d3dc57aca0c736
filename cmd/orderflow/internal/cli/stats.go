package cli

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// percentile returns the p-th percentile (0 < p <= 100) of sorted by the nearest-rank
// method: the smallest value with at least p% of the values at or below it. It returns 0
// for no values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// LatencySummary holds the figures the load report (and the console) prints.
type LatencySummary struct {
	N                  int
	Min, P50, P95, P99 time.Duration
	Max, Mean          time.Duration
}

// Summarize sorts a copy of ds and returns its percentiles.
func Summarize(ds []time.Duration) LatencySummary {
	s := slices.Clone(ds)
	slices.Sort(s)
	out := LatencySummary{N: len(s)}
	if len(s) == 0 {
		return out
	}
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	out.Min, out.Max, out.Mean = s[0], s[len(s)-1], sum/time.Duration(len(s))
	out.P50, out.P95, out.P99 = percentile(s, 50), percentile(s, 95), percentile(s, 99)
	return out
}

// roundDuration keeps three significant figures: 1.234567s prints as 1.23s.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// String renders the summary on one line.
func (s LatencySummary) String() string {
	if s.N == 0 {
		return "no orders reached a terminal status"
	}
	r := roundDuration
	return fmt.Sprintf("p50 %v  p95 %v  p99 %v  (min %v, mean %v, max %v, n=%d)",
		r(s.P50), r(s.P95), r(s.P99), r(s.Min), r(s.Mean), r(s.Max), s.N)
}

// countLine renders counts as "A 3  B 2", largest first, ties by name.
func countLine(counts map[string]int) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if counts[a] != counts[b] {
			return counts[b] - counts[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, counts[k])
	}
	return strings.Join(parts, "  ")
}
