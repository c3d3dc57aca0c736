package main

import (
	"fmt"
	"github.com/orderflow/orderflow/tools/emulator"
	"io"
	"math"
	"strings"
	"time"

	"github.com/orderflow/orderflow/cmd/internal/capacity"
)

// Goals of the Performance issue; the report says whether each is met, nothing fails on them.
const (
	GoalSizeBytes       = 8 << 20 // 8 MiB per function binary
	GoalColdRatio       = 1.25    // function cold start / hello-world cold start
	GoalHotRatio        = 3.0     // hot path / decode-only
	GoalLimitFraction   = 0.80    // achieved orders/s / emulator-bound limit
	GoalP99             = 2 * time.Second
	GoalLoadConcurrency = 20
)

// Machine describes where the report was measured.
type Machine struct {
	NProc     int
	CPU       string
	GoVersion string
	OS        string
	// LoadBefore and LoadAfter are /proc/loadavg at the start and the end of the run: the
	// machine may be shared, and a busy machine slows every figure.
	LoadBefore, LoadAfter string
}

// SizeRow is one binary's stripped linux/arm64 size.
type SizeRow struct {
	Name  string
	Bytes int64
}

// SizeSection is section 1.
type SizeSection struct {
	Skip    string
	Command string
	Rows    []SizeRow
	Hello   int64
}

// ColdRow is one function's cold starts beside hello-world's, measured interleaved.
type ColdRow struct {
	Name        string
	N           int
	Median      time.Duration
	HelloMedian time.Duration
	// Payload says what the first request was and why it answers without real AWS.
	Payload string
	// Init is the binary's package initialization (zero when not traced).
	Init InitTrace
}

// ColdSection is section 2.
type ColdSection struct {
	Skip  string
	Build string
	Rows  []ColdRow
	// HelloInit is hello-world's package initialization, for comparison.
	HelloInit InitTrace
}

// InitTrace is what GODEBUG=inittrace=1 reports of a binary's package initialization:
// the summed clock time of every package's init (the fastest of several starts: the
// machine's load only adds to it) and the memory those inits allocate (the same at
// every start, so it shows a dependency's cost on a loaded machine too).
type InitTrace struct {
	Clock  time.Duration
	Bytes  int64
	Allocs int64
}

// BenchStat is one Go benchmark's median over its -count runs.
type BenchStat struct {
	NsPerOp     float64
	BytesPerOp  float64
	AllocsPerOp float64
}

// HotRow is one hot path beside the cost of only decoding its input.
type HotRow struct {
	Name   string
	Input  string
	Hot    BenchStat
	Decode BenchStat
}

// HotSection is section 3.
type HotSection struct {
	Skip    string
	Command string
	Rows    []HotRow
}

// CallRow is one AWS API (service:operation) per confirmed order.
type CallRow struct {
	Call     string
	PerOrder float64
}

// MinRow is the design's minimum for one service, with the reason.
type MinRow struct {
	Service  string
	Measured float64
	Minimum  float64
	Why      string
	// Amortized marks a per-batch figure whose per-order value depends on how full the
	// batches were; it is shown but left out of the goal check.
	Amortized bool
}

// CallSection is section 4.
type CallSection struct {
	Skip   string
	Orders int
	// Calls are the functions' and the state machine's calls (what the edge counts).
	Calls []CallRow
	// Plumbing are the local stack's own calls (event-source polling, rule delivery):
	// AWS-internal on AWS, shown for completeness.
	Plumbing []CallRow
	Minimum  []MinRow
}

// CallsPerOrder sums the counted calls.
func (c CallSection) CallsPerOrder() float64 {
	var t float64
	for _, r := range c.Calls {
		t += r.PerOrder
	}
	return t
}

// AtMinimum reports whether every service that is not batch-amortized is at (or below)
// its minimum, and lists those above it.
func (c CallSection) AtMinimum() (bool, []string) {
	var over []string
	for _, r := range c.Minimum {
		if !r.Amortized && r.Measured > r.Minimum+0.005 {
			over = append(over, fmt.Sprintf("%s %.2f > %.2f", r.Service, r.Measured, r.Minimum))
		}
	}
	return len(over) == 0, over
}

// AmortizedServices names the batch-amortized services, for example "events and s3"
// ("" for none).
func (c CallSection) AmortizedServices() string {
	var names []string
	for _, r := range c.Minimum {
		if r.Amortized {
			names = append(names, r.Service)
		}
	}
	return strings.Join(names, " and ")
}

// MinimumPerOrder sums the minimum.
func (c CallSection) MinimumPerOrder() float64 {
	var t float64
	for _, r := range c.Minimum {
		t += r.Minimum
	}
	return t
}

// RawRate is the emulator's own call rate, measured from Go against the same moto.
type RawRate struct {
	Workers     int
	Seconds     float64
	GetItem     float64 // calls/s
	SendMessage float64 // calls/s
}

// Mixed is the rate of a 50/50 mix of the two calls (harmonic mean): the time per call
// averaged over both kinds.
func (r RawRate) Mixed() float64 {
	if r.GetItem <= 0 || r.SendMessage <= 0 {
		return 0
	}
	return 2 / (1/r.GetItem + 1/r.SendMessage)
}

// LoadSection is section 5.
type LoadSection struct {
	Skip          string
	Command       string
	Orders        int
	Concurrency   int
	Rate          float64
	P50, P95, P99 time.Duration
	Output        string
	SVG           string
	Raw           RawRate
	CallsPerOrder float64
	// CallLatency is the mean latency of the functions' AWS calls during section 4.
	CallLatency time.Duration
	// LoadCalls are the functions' and state machine's calls per order during the load run
	// (with the CLI's status polls, which go through GET /orders/{id}); LoadGetItem is the
	// DynamoDB GetItem part; LoadPlumbing the stack's own calls per order.
	LoadCalls, LoadGetItem, LoadPlumbing float64
	// Emulator is where moto's time went during the load run (the shim's profile).
	Emulator *emulator.Profile
}

// Limit is the emulator-bound order rate: raw calls/s ÷ calls per order.
func (l LoadSection) Limit() float64 {
	if l.CallsPerOrder <= 0 {
		return 0
	}
	return l.Raw.Mixed() / l.CallsPerOrder
}

// CostSection is section 6.
type CostSection struct {
	Skip        string
	Prices      capacity.Prices
	Lines       []capacity.CostLine
	Assumptions []string
	Advice      string
	// Transitions are the state transitions of each order outcome (the lines above are
	// a confirmed order's).
	Transitions []TransitionRow
}

// TransitionRow is the states one order outcome enters and what they cost.
type TransitionRow struct {
	Outcome    string
	States     []string
	PerMillion float64
}

// Report is everything `make bench` writes to bench/REPORT.md.
type Report struct {
	Date    time.Time
	Machine Machine
	Elapsed time.Duration
	Sizes   SizeSection
	Cold    ColdSection
	Hot     HotSection
	Calls   CallSection
	Load    LoadSection
	Cost    CostSection
	// Soak is the last `make soak` run (bench/soak.md, written with its command): a long
	// run is not repeated by every `make bench`.
	Soak string
	// Scale is section 8, `orderflow plan` at capacity.ScaleRates.
	Scale ScaleSection
	// FlashSale is section 9, the last `make flashsale` (bench/flashsale.md).
	FlashSale string
}

// ScaleSection is section 8: the capacity plan at each of capacity.ScaleRates, made by
// the code of `orderflow plan`.
type ScaleSection struct {
	Skip  string
	Plans []capacity.Plan
	// Measured and Minimum are section 4's calls per order (0 when not measured).
	Measured, Minimum float64
}

func mib(b int64) string { return fmt.Sprintf("%.2f MiB", float64(b)/(1<<20)) }

func ms(d time.Duration) string {
	if d >= time.Second {
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return fmt.Sprintf("%.2f ms", float64(d)/1e6)
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func notMeasured(w io.Writer, reason string) {
	fmt.Fprintf(w, "not measured: %s\n\n", reason)
}

// WriteMarkdown writes the report. Every section states its goal and whether it is met;
// a section that could not be measured says so and why.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# orderflow performance report\n\n")
	fmt.Fprintf(&b, "Written by `make bench` (cmd/benchreport) on %s UTC in %s. Machine: %d CPUs (nproc), %s, %s, %s.\n",
		r.Date.UTC().Format("2006-01-02 15:04"), r.Elapsed.Round(time.Second), r.Machine.NProc, r.Machine.CPU, r.Machine.GoVersion, r.Machine.OS)
	if r.Machine.LoadBefore != "" {
		fmt.Fprintf(&b, "Load average (1, 5, 15 min) at the start: %s; at the end: %s.\n", r.Machine.LoadBefore, r.Machine.LoadAfter)
	}
	fmt.Fprintf(&b, "Raw Go benchmark output (benchstat input): `bench/raw.txt`. Goals are reported, never asserted.\n\n")
	r.writeGoals(&b)
	r.writeSizes(&b)
	r.writeCold(&b)
	r.writeHot(&b)
	r.writeCalls(&b)
	r.writeLoad(&b)
	r.writeCost(&b)
	r.writeSoak(&b)
	r.writeScale(&b)
	r.writeFlashSale(&b)
	_, err := io.WriteString(w, b.String())
	return err
}

// GoalStatus is one line of the summary table.
type GoalStatus struct {
	Goal   string
	Result string
	Met    string // "met", "NOT met" or "not measured"
}

// Goals summarises every goal of the issue.
func (r *Report) Goals() []GoalStatus {
	var out []GoalStatus
	if r.Sizes.Skip != "" {
		out = append(out, GoalStatus{"1. each function binary ≤ 8 MiB", r.Sizes.Skip, "not measured"})
	} else {
		var largest SizeRow
		for _, s := range r.Sizes.Rows {
			if s.Bytes > largest.Bytes {
				largest = s
			}
		}
		out = append(out, GoalStatus{"1. each function binary ≤ 8 MiB", fmt.Sprintf("largest %s %s (hello %s)", largest.Name, mib(largest.Bytes), mib(r.Sizes.Hello)), met(largest.Bytes <= GoalSizeBytes)})
	}
	if r.Cold.Skip != "" {
		out = append(out, GoalStatus{"2. cold start ≤ 1.25 × hello-world", r.Cold.Skip, "not measured"})
	} else {
		worst, name := 0.0, ""
		for _, c := range r.Cold.Rows {
			if q := ratio(c.Median, c.HelloMedian); q > worst {
				worst, name = q, c.Name
			}
		}
		out = append(out, GoalStatus{"2. cold start ≤ 1.25 × hello-world", fmt.Sprintf("worst %s %.2f×", name, worst), met(worst <= GoalColdRatio)})
	}
	if r.Hot.Skip != "" {
		out = append(out, GoalStatus{"3. hot path ≤ 3 × decode", r.Hot.Skip, "not measured"})
	} else {
		worst, name := 0.0, ""
		for _, h := range r.Hot.Rows {
			if q := h.Hot.NsPerOp / h.Decode.NsPerOp; q > worst {
				worst, name = q, h.Name
			}
		}
		out = append(out, GoalStatus{"3. hot path ≤ 3 × decode", fmt.Sprintf("worst %s %.2f×", name, worst), met(worst <= GoalHotRatio)})
	}
	if r.Calls.Skip != "" {
		out = append(out, GoalStatus{"4. AWS calls per order at the design minimum", r.Calls.Skip, "not measured"})
	} else {
		c, m := r.Calls.CallsPerOrder(), r.Calls.MinimumPerOrder()
		ok, over := r.Calls.AtMinimum()
		res := fmt.Sprintf("%.2f measured, %.2f minimum", c, m)
		if a := r.Calls.AmortizedServices(); a != "" {
			res += " (" + a + " batch-amortized)"
		}
		if !ok {
			res += "; above: " + strings.Join(over, ", ")
		}
		out = append(out, GoalStatus{"4. AWS calls per order at the design minimum", res, met(ok)})
	}
	if r.Load.Skip != "" {
		out = append(out, GoalStatus{"5a. ≥ 80% of the emulator-bound limit", r.Load.Skip, "not measured"},
			GoalStatus{"5b. p99 ≤ 2 s at concurrency 20", r.Load.Skip, "not measured"})
	} else {
		lim := r.Load.Limit()
		frac := 0.0
		if lim > 0 {
			frac = r.Load.Rate / lim
		}
		out = append(out, GoalStatus{"5a. ≥ 80% of the emulator-bound limit", fmt.Sprintf("%.1f orders/s of %.1f (%.0f%%)", r.Load.Rate, lim, 100*frac), met(lim > 0 && frac >= GoalLimitFraction)})
		p99 := fmt.Sprintf("p99 %s at concurrency %d", ms(r.Load.P99), r.Load.Concurrency)
		out = append(out, GoalStatus{"5b. p99 ≤ 2 s at concurrency 20", p99, met(r.Load.P99 <= GoalP99 && r.Load.Concurrency >= GoalLoadConcurrency)})
	}
	if r.Cost.Skip != "" {
		out = append(out, GoalStatus{"6. cost per million orders", r.Cost.Skip, "not measured"})
	} else {
		l := capacity.Largest(r.Cost.Lines)
		out = append(out, GoalStatus{"6. cost per million orders", fmt.Sprintf("$%.2f; largest: %s %s $%.2f", capacity.Total(r.Cost.Lines), l.Service, l.Item, l.PerMillion), "reported"})
	}
	return out
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return math.Inf(1)
	}
	return float64(a) / float64(b)
}

func (r *Report) writeGoals(b *strings.Builder) {
	b.WriteString("## Summary\n\n| goal | result | status |\n|---|---|---|\n")
	for _, g := range r.Goals() {
		fmt.Fprintf(b, "| %s | %s | %s |\n", g.Goal, g.Result, g.Met)
	}
	b.WriteString("\n")
}

func (r *Report) writeSizes(b *strings.Builder) {
	s := r.Sizes
	b.WriteString("## 1. Binary size (stripped linux/arm64)\n\n")
	if s.Skip != "" {
		notMeasured(b, s.Skip)
		return
	}
	fmt.Fprintf(b, "Built in this run with `%s`. Goal: each function ≤ 8 MiB.\n\n", s.Command)
	b.WriteString("| function | bytes | size | vs hello-world | goal |\n|---|---:|---:|---:|---|\n")
	for _, row := range s.Rows {
		fmt.Fprintf(b, "| %s | %d | %s | %.2f× | %s |\n", row.Name, row.Bytes, mib(row.Bytes), float64(row.Bytes)/float64(s.Hello), met(row.Bytes <= GoalSizeBytes))
	}
	fmt.Fprintf(b, "| hello-world (bench/hello) | %d | %s | 1.00× | |\n\n", s.Hello, mib(s.Hello))
}

func (r *Report) writeCold(b *strings.Builder) {
	c := r.Cold
	b.WriteString("## 2. Cold start (process start → first successful response, tools/lambdahost)\n\n")
	if c.Skip != "" {
		notMeasured(b, c.Skip)
		return
	}
	fmt.Fprintf(b, "Host-arch builds (`%s`), each start a fresh process under tools/lambdahost's Runtime API (`Host.ColdStart`), "+
		"interleaved function, hello, next function, hello, …; median per function and of the hello starts taken between them. "+
		"AWS_ENDPOINT_URL points at a stub on 127.0.0.1 owned by the benchmark. Goal: ratio ≤ %.2f.\n\n", c.Build, GoalColdRatio)
	b.WriteString("| function | starts | median | hello median | ratio | goal | package init | init allocs | first request |\n|---|---:|---:|---:|---:|---|---:|---:|---|\n")
	for _, row := range c.Rows {
		q := ratio(row.Median, row.HelloMedian)
		fmt.Fprintf(b, "| %s | %d | %s | %s | %.2f× | %s | %s | %s | %s |\n", row.Name, row.N, ms(row.Median), ms(row.HelloMedian), q, met(q <= GoalColdRatio),
			ms(row.Init.Clock), row.Init.kb(), row.Payload)
	}
	fmt.Fprintf(b, "\nPackage init: `GODEBUG=inittrace=1`, the sum over the binary's packages, fastest of %d starts; init allocs: KB the inits allocate "+
		"(the same at every start, so comparable across loaded machines). hello-world: %s, %s. The AWS SDK service modules pinned in go.mod are chosen by these two columns.\n\n",
		initRuns, ms(c.HelloInit.Clock), c.HelloInit.kb())
}

func (t InitTrace) kb() string { return fmt.Sprintf("%.0f KB", float64(t.Bytes)/1024) }

func (r *Report) writeHot(b *strings.Builder) {
	h := r.Hot
	b.WriteString("## 3. Hot paths (Go benchmarks over in-memory fakes)\n\n")
	if h.Skip != "" {
		notMeasured(b, h.Skip)
		return
	}
	fmt.Fprintf(b, "`%s` (medians of the runs; raw output in bench/raw.txt). The hot path is the handler's whole in-process work for one "+
		"invoke: decode the Lambda payload, handle it over the packages' test fakes, encode the answer, JSON logs to io.Discard. "+
		"The decode benchmark only decodes the same payload into the same types. Goal: hot ≤ %.0f× decode.\n\n", h.Command, GoalHotRatio)
	b.WriteString("| hot path | input | hot ns/op | B/op | allocs/op | decode ns/op | B/op | allocs/op | ratio | goal |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, row := range h.Rows {
		q := row.Hot.NsPerOp / row.Decode.NsPerOp
		fmt.Fprintf(b, "| %s | %s | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.2f× | %s |\n", row.Name, row.Input,
			row.Hot.NsPerOp, row.Hot.BytesPerOp, row.Hot.AllocsPerOp, row.Decode.NsPerOp, row.Decode.BytesPerOp, row.Decode.AllocsPerOp, q, met(q <= GoalHotRatio))
	}
	b.WriteString("\n")
}

func (r *Report) writeCalls(b *strings.Builder) {
	c := r.Calls
	b.WriteString("## 4. AWS API calls per confirmed order (local stack)\n\n")
	if c.Skip != "" {
		notMeasured(b, c.Skip)
		return
	}
	fmt.Fprintf(b, "%d orders (one line, `tok_visa`, all confirmed) through the local stack; calls counted by service and operation between the "+
		"edge and moto (the functions' calls) and between moto's Step Functions and the edge (the state machine's task calls), "+
		"after the last order's notify and analytics work had settled. Status polling went straight to moto and is not counted.\n\n", c.Orders)
	b.WriteString("| call | per order |\n|---|---:|\n")
	for _, row := range c.Calls {
		fmt.Fprintf(b, "| %s | %.2f |\n", row.Call, row.PerOrder)
	}
	fmt.Fprintf(b, "| **total** | **%.2f** |\n\n", c.CallsPerOrder())
	b.WriteString("Minimum the design allows, by service (goal: at the minimum):\n\n| service | measured | minimum | why that minimum |\n|---|---:|---:|---|\n")
	for _, row := range c.Minimum {
		fmt.Fprintf(b, "| %s | %.2f | %.2f | %s |\n", row.Service, row.Measured, row.Minimum, row.Why)
	}
	fmt.Fprintf(b, "| **total** | **%.2f** | **%.2f** | |\n\n", c.CallsPerOrder(), c.MinimumPerOrder())
	if len(c.Plumbing) > 0 {
		b.WriteString("The local stack's own calls in the same window (event-source polling and rule delivery, which AWS does internally; polling runs whether or not orders flow):\n\n| call | per order |\n|---|---:|\n")
		for _, row := range c.Plumbing {
			fmt.Fprintf(b, "| %s | %.2f |\n", row.Call, row.PerOrder)
		}
		b.WriteString("\n")
	}
}

func (r *Report) writeLoad(b *strings.Builder) {
	l := r.Load
	b.WriteString("## 5. Throughput and latency (local stack)\n\n")
	if l.Skip != "" {
		notMeasured(b, l.Skip)
		return
	}
	lim := l.Limit()
	fmt.Fprintf(b, "`%s`: **%.1f orders/s**, POST → terminal status p50 %s, p95 %s, p99 %s.", l.Command, l.Rate, ms(l.P50), ms(l.P95), ms(l.P99))
	if l.SVG != "" {
		fmt.Fprintf(b, " Histogram: ![latency histogram](%s)", l.SVG)
	}
	b.WriteString("\n\n```\n" + strings.TrimSpace(l.Output) + "\n```\n\n")
	fmt.Fprintf(b, "Emulator's raw rate, same moto, same run: %d Go workers for %.0f s each: DynamoDB GetItem %.0f calls/s, SQS SendMessage %.0f calls/s; "+
		"50/50 mix %.0f calls/s. Calls per confirmed order (section 4): %.2f. Emulator-bound limit: %.0f ÷ %.2f = **%.1f orders/s**.\n\n",
		l.Raw.Workers, l.Raw.Seconds, l.Raw.GetItem, l.Raw.SendMessage, l.Raw.Mixed(), l.CallsPerOrder, l.Raw.Mixed(), l.CallsPerOrder, lim)
	if l.CallLatency > 0 && l.Raw.Mixed() > 0 {
		fmt.Fprintf(b, "For comparison: one call of the raw loop took %s on average (%d workers ÷ the mixed rate); the functions' calls during section 4 took %s on average.\n\n",
			ms(time.Duration(float64(l.Raw.Workers)/l.Raw.Mixed()*1e9)), l.Raw.Workers, ms(l.CallLatency))
	}
	if l.LoadCalls > 0 && l.Raw.Mixed() > 0 {
		all := l.LoadCalls + l.LoadPlumbing
		fmt.Fprintf(b, "During the load run itself the emulator served %.1f calls per order: %.1f by the functions and the state machine, with the load generator's "+
			"status polls through GET /orders/{id} (DynamoDB GetItem alone: %.1f per order) and %.1f by the local stack's own pollers. At that figure the emulator-bound rate is "+
			"%.0f ÷ %.1f = %.1f orders/s.\n\n", all, l.LoadCalls, l.LoadGetItem, l.LoadPlumbing, l.Raw.Mixed(), all, l.Raw.Mixed()/all)
	}
	writeEmulatorProfile(b, l.Emulator, l.Orders)
	frac := 0.0
	if lim > 0 {
		frac = l.Rate / lim
	}
	fmt.Fprintf(b, "| goal | result | status |\n|---|---|---|\n| ≥ 80%% of the emulator-bound limit | %.0f%% | %s |\n| p99 ≤ 2 s at concurrency %d | %s | %s |\n\n",
		100*frac, met(lim > 0 && frac >= GoalLimitFraction), GoalLoadConcurrency, ms(l.P99), met(l.P99 <= GoalP99 && l.Concurrency >= GoalLoadConcurrency))
}

func (r *Report) writeCost(b *strings.Builder) {
	c := r.Cost
	b.WriteString("## 6. Cost per million confirmed orders (us-east-1 list prices)\n\n")
	if c.Skip != "" {
		notMeasured(b, c.Skip)
		return
	}
	fmt.Fprintf(b, "Prices: bench/prices-us-east-1.json, dated %s (%s).\n\n", c.Prices.Date, c.Prices.Source)
	b.WriteString("| service | item | per order | unit | $ per million orders |\n|---|---|---:|---|---:|\n")
	for _, l := range c.Lines {
		fmt.Fprintf(b, "| %s | %s | %.4g | %s | %.2f |\n", l.Service, l.Item, l.Quantity, l.Unit, l.PerMillion)
	}
	fmt.Fprintf(b, "| **total** | | | | **%.2f** |\n\n", capacity.Total(c.Lines))
	b.WriteString("By service: ")
	var parts []string
	for _, s := range capacity.ByService(c.Lines) {
		parts = append(parts, fmt.Sprintf("%s $%.2f", s.Service, s.PerMillion))
	}
	b.WriteString(strings.Join(parts, ", ") + ".\n\n")
	l := capacity.Largest(c.Lines)
	fmt.Fprintf(b, "Largest line: **%s %s, $%.2f of $%.2f**. %s\n\n", l.Service, l.Item, l.PerMillion, capacity.Total(c.Lines), c.Advice)
	if len(c.Transitions) > 0 {
		b.WriteString("Step Functions state transitions by outcome (statemachine/order-processing.asl.json; no retries):\n\n" +
			"| outcome | transitions | states entered | $ per million such orders |\n|---|---:|---|---:|\n")
		for _, t := range c.Transitions {
			fmt.Fprintf(b, "| %s | %d | %s | %.2f |\n", t.Outcome, len(t.States), strings.Join(t.States, " → "), t.PerMillion)
		}
		b.WriteString("\n")
	}
	if len(c.Assumptions) > 0 {
		b.WriteString("Where each figure comes from:\n\n")
		for _, a := range c.Assumptions {
			fmt.Fprintf(b, "- %s\n", a)
		}
		b.WriteString("\n")
	}
}

func (r *Report) writeSoak(b *strings.Builder) {
	fmt.Fprintf(b, "## 7. Soak: memory and speed over a long run (local stack, `make soak`)\n\n")
	if strings.TrimSpace(r.Soak) == "" {
		notMeasured(b, "no bench/soak.md: run `make soak` and keep its figures there")
		return
	}
	fmt.Fprintf(b, "Not re-run by `make bench` (it takes hours); the figures of the last `make soak`, from bench/soak.md:\n\n%s\n", strings.TrimSpace(r.Soak))
}

// scaleHeading starts section 8; `benchreport -scale-only` replaces that section.
const scaleHeading = "## 8. Scale on paper (`orderflow plan`)"

func (r *Report) writeScale(b *strings.Builder) {
	fmt.Fprintf(b, "%s\n\n", scaleHeading)
	if r.Scale.Skip != "" {
		fmt.Fprintf(b, "Not computed: %s\n", r.Scale.Skip)
		return
	}
	b.WriteString("What AWS would do at these rates, from the design's calls per order (cmd/internal/capacity), the template's settings at their defaults, " +
		"the dated default quotas of bench/quotas.json and the prices of section 6: the same code and output as `orderflow plan --rate " +
		rateList() + "` (the summary) and `orderflow plan --rate N` (each table). A limit binds when the load reaches it; " +
		"\"before this rate\" is what to request, set (template parameters) or redesign first, with 25% headroom.")
	if r.Scale.Measured > 0 {
		fmt.Fprintf(b, " The plan assumes the design minimum of %.2f AWS calls per order; section 4 measured %.2f.", r.Scale.Minimum, r.Scale.Measured)
	}
	b.WriteString("\n\n")
	capacity.WriteSummary(b, r.Scale.Plans)
	for _, p := range r.Scale.Plans {
		fmt.Fprintf(b, "\n### %.0f orders/s\n\n", p.Rate)
		p.WriteMarkdown(b)
	}
}

func rateList() string {
	var s []string
	for _, r := range capacity.ScaleRates {
		s = append(s, fmt.Sprintf("%.0f", r))
	}
	return strings.Join(s, ",")
}

// profileRows is how many operations the emulator profile lists.
const profileRows = 10

// writeEmulatorProfile says where the emulator's one core went during the load run.
func writeEmulatorProfile(b *strings.Builder, p *emulator.Profile, orders int) {
	if p == nil || p.ProcessCPU <= 0 || orders <= 0 {
		return
	}
	other := p.ProcessCPU - p.RequestCPU
	fmt.Fprintf(b, "Where the emulator's time went during the load run (moto is one Python process: one core at most; the shim's profile, `MOTO_SHIM_PROFILE=1`): "+
		"%.1f s of CPU, **%.0f ms per order**; %.0f%% serving requests, %.0f%% outside them (moto's Step Functions executions, its HTTP server). "+
		"The operations, most CPU first:\n\n", p.ProcessCPU, 1000*p.ProcessCPU/float64(orders), 100*p.RequestCPU/p.ProcessCPU, 100*other/p.ProcessCPU)
	b.WriteString("| operation | calls per order | CPU ms per call | wall ms per call | share of moto's CPU |\n|---|---:|---:|---:|---:|\n")
	for i, o := range p.Ops {
		if i == profileRows {
			break
		}
		fmt.Fprintf(b, "| %s | %.2f | %.1f | %.1f | %.1f%% |\n", o.Op, float64(o.Count)/float64(orders), 1000*o.CPUS/float64(o.Count),
			1000*o.WallS/float64(o.Count), 100*o.CPUS/p.ProcessCPU)
	}
	fmt.Fprintf(b, "| outside requests | | | | %.1f%% |\n\n", 100*other/p.ProcessCPU)
}
