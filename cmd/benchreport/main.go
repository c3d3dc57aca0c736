// Command benchreport is `make bench`: it measures orderflow (binary sizes, cold starts,
// handler hot paths, AWS calls per order, throughput and latency on the local stack) and
// writes bench/REPORT.md, with the raw Go benchmark output in bench/raw.txt for benchstat.
// Goals are reported, never enforced: the exit status is non-zero only when the report
// cannot be written.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/orderflow/orderflow/cmd/internal/capacity"
	"github.com/orderflow/orderflow/tools/template"
)

// options are benchreport's flags.
type options struct {
	Root        string
	Out         string
	Raw         string
	SVG         string
	Prices      string
	Starts      int
	BenchCount  int
	BenchTime   string
	CallOrders  int
	LoadOrders  int
	Concurrency int
	RawSeconds  float64
	Monthly     float64
	NoStack     bool
	ScaleOnly   bool
	Soak        string
	FlashSale   string
	FlashOnly   bool
}

func main() {
	var o options
	flag.StringVar(&o.Root, "root", ".", "module root (template.yaml, functions/, bench/)")
	flag.StringVar(&o.Out, "out", "bench/REPORT.md", "the Markdown report")
	flag.StringVar(&o.Raw, "raw", "bench/raw.txt", "raw Go benchmark output (benchstat input)")
	flag.StringVar(&o.SVG, "svg", "bench/latency.svg", "latency histogram of the load run")
	flag.StringVar(&o.Prices, "prices", "bench/prices-us-east-1.json", "dated price table")
	flag.StringVar(&o.Soak, "soak", "bench/soak.md", "the last `make soak` figures, kept as section 7 (absent: not measured)")
	flag.StringVar(&o.FlashSale, "flashsale", "bench/flashsale.md", "the last `make flashsale` figures, kept as section 9 (absent: not measured)")
	flag.BoolVar(&o.FlashOnly, "flashsale-only", false, "only section 9 (flash sale): replace it in the existing report from -flashsale, measure nothing")
	flag.IntVar(&o.Starts, "starts", 21, "cold starts per function (and as many hello-world starts interleaved)")
	flag.IntVar(&o.BenchCount, "bench-count", 6, "go test -count for the hot-path benchmarks")
	flag.StringVar(&o.BenchTime, "benchtime", "300ms", "go test -benchtime for the hot-path benchmarks")
	flag.IntVar(&o.CallOrders, "call-orders", 20, "orders whose AWS calls are counted (section 4)")
	flag.IntVar(&o.LoadOrders, "orders", 300, "orders of the load run (section 5)")
	flag.IntVar(&o.Concurrency, "concurrency", 20, "concurrency of the load run")
	flag.Float64Var(&o.RawSeconds, "raw-seconds", 3, "seconds per call kind of the emulator's raw-rate loop")
	flag.Float64Var(&o.Monthly, "monthly-orders", 1e6, "orders per month that share the Kinesis shard-hours")
	flag.BoolVar(&o.NoStack, "no-stack", false, "skip sections 4 and 5 (no local stack)")
	flag.BoolVar(&o.ScaleOnly, "scale-only", false, "only section 8 (scale on paper): replace it in the existing report, measure nothing")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(ctx, o, log); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, log *slog.Logger) error {
	if o.ScaleOnly {
		return rewriteScale(o)
	}
	if o.FlashOnly {
		return rewriteFlashSale(o)
	}
	began := time.Now()
	tmp, err := os.MkdirTemp("", "orderflow-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	r := &Report{Date: began, Machine: machine(ctx)}

	log.Info("section 1: binary sizes (linux/arm64)")
	r.Sizes = measureSizes(ctx, o.Root, tmp)

	log.Info("section 2: cold starts", "starts", o.Starts)
	hostErr := buildHost(ctx, o.Root, tmp)
	log.Info("host-arch builds done", "elapsed", time.Since(began).Round(time.Second))
	if hostErr != nil {
		r.Cold = ColdSection{Skip: hostErr.Error()}
	} else {
		r.Cold = measureCold(ctx, tmp, o.Starts)
	}

	log.Info("section 3: hot paths", "count", o.BenchCount, "benchtime", o.BenchTime)
	raw, err := os.Create(at(o.Root, o.Raw))
	if err != nil {
		return err
	}
	fmt.Fprintf(raw, "# orderflow hot-path benchmarks, %s, %s; benchstat input\n", began.UTC().Format(time.RFC3339), r.Machine.CPU)
	r.Hot = measureHot(ctx, o.Root, o.BenchCount, o.BenchTime, raw)
	if err := raw.Close(); err != nil {
		return err
	}

	var st stackResult
	switch {
	case o.NoStack:
		st.skip = "skipped with -no-stack"
	case hostErr != nil:
		st.skip = "functions did not build: " + hostErr.Error()
	default:
		log.Info("sections 4 and 5: local stack", "count-orders", o.CallOrders, "load-orders", o.LoadOrders, "concurrency", o.Concurrency)
		st = measureStack(ctx, o, tmp, log)
	}
	r.Calls, r.Load = st.calls, st.load
	if st.skip != "" {
		r.Calls.Skip, r.Load.Skip = st.skip, st.skip
	}

	log.Info("section 6: cost model")
	r.Cost = costSection(o, r, st)
	log.Info("section 8: scale on paper")
	r.Scale = scaleSection(o.Root, r.Calls)
	if b, err := os.ReadFile(at(o.Root, o.Soak)); err == nil {
		r.Soak = string(b)
	}
	if b, err := os.ReadFile(at(o.Root, o.FlashSale)); err == nil {
		r.FlashSale = string(b)
	}
	r.Elapsed = time.Since(began)
	r.Machine.LoadAfter = loadAvg()

	f, err := os.Create(at(o.Root, o.Out))
	if err != nil {
		return err
	}
	if err := r.WriteMarkdown(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	for _, g := range r.Goals() {
		fmt.Fprintf(os.Stdout, "%-48s %-60s %s\n", g.Goal, g.Result, g.Met)
	}
	fmt.Fprintf(os.Stdout, "report: %s (%s)\n", o.Out, r.Elapsed.Round(time.Second))
	return nil
}

// memory returns each function's MemorySize from the template (Globals, then the
// function's own), by function directory name.
func memory(root string) (map[string]int, error) {
	t, err := template.Load(filepath.Join(root, "template.yaml"))
	if err != nil {
		return nil, err
	}
	s, err := capacity.ReadSettings(t, nil)
	return s.Memory, err
}

// at resolves p against root unless it is absolute.
func at(root, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(root, p)
}

// scaleSection plans capacity.ScaleRates in us-east-1 with the template's defaults, and
// notes section 4's measured calls per order against the design's minimum.
func scaleSection(root string, calls CallSection) ScaleSection {
	in, err := capacity.LoadInput(root, nil)
	if err != nil {
		return ScaleSection{Skip: err.Error()}
	}
	in.Region = "us-east-1"
	plans, err := capacity.MakeAll(in, capacity.ScaleRates)
	if err != nil {
		return ScaleSection{Skip: err.Error()}
	}
	sec := ScaleSection{Plans: plans}
	if calls.Skip == "" && len(calls.Minimum) > 0 {
		sec.Measured, sec.Minimum = calls.CallsPerOrder(), calls.MinimumPerOrder()
	}
	return sec
}

// rewriteScale replaces section 8 of the existing report (or appends it), measuring
// nothing else: `go run ./cmd/benchreport -scale-only`.
func rewriteScale(o options) error {
	r := &Report{Scale: scaleSection(o.Root, CallSection{Skip: "not measured"})}
	if err := rewriteSection(at(o.Root, o.Out), scaleHeading, r.writeScale); err != nil {
		return err
	}
	fmt.Fprintf(os.Stdout, "report: %s (section 8 only)\n", o.Out)
	return nil
}
