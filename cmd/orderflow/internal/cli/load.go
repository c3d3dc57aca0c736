package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/orderflow/orderflow/cmd/internal/loadgen"
	"github.com/orderflow/orderflow/pkg/order"
)

// loadOptions are the flags of `load`.
type loadOptions struct {
	Orders      int
	Concurrency int
	Seed        uint64
	Mix         []weightedKind
	MixName     string
	Histogram   string
	Timeout     time.Duration
	Poll        time.Duration
	NoCatalog   bool
}

func (e *env) parseLoad(args []string) (*stackFlags, *loadOptions, error) {
	sf := &stackFlags{}
	o := &loadOptions{}
	fs := e.newFlagSet("load", sf)
	fs.IntVar(&o.Orders, "orders", 100, "number of orders to send")
	fs.IntVar(&o.Concurrency, "concurrency", 8, "orders in flight at once")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the order mix (same seed, same orders)")
	fs.StringVar(&o.MixName, "mix", "default", "order mix: default (80% valid, 5% each out-of-stock, declined, unknown-sku, invalid), valid, or kind=weight,...")
	fs.StringVar(&o.Histogram, "histogram", "", "write a latency histogram to this SVG file")
	fs.DurationVar(&o.Timeout, "timeout", 60*time.Second, "how long one order may take to reach a terminal status")
	fs.DurationVar(&o.Poll, "poll", 100*time.Millisecond, "GET interval while waiting (the latency resolution)")
	fs.BoolVar(&o.NoCatalog, "no-catalog", false, "do not set up the LOAD-* SKUs in the inventory table first")
	pos, err := parse(fs, args)
	if err != nil {
		return nil, nil, err
	}
	if err := wantArgs(fs, pos); err != nil {
		return nil, nil, err
	}
	if o.Orders < 1 || o.Concurrency < 1 {
		return nil, nil, usageError("load: --orders and --concurrency must be >= 1")
	}
	if o.Timeout <= 0 || o.Poll <= 0 {
		return nil, nil, usageError("load: --timeout and --poll must be > 0")
	}
	if o.Mix, err = parseMix(o.MixName); err != nil {
		return nil, nil, usageError("load: %v", err)
	}
	return sf, o, nil
}

func (e *env) load(ctx context.Context, args []string) error {
	sf, o, err := e.parseLoad(args)
	if err != nil {
		return err
	}
	spec := LoadSpec{API: sf.API, Authorization: e.getenv("ORDERFLOW_AUTHORIZATION"), Orders: o.Orders,
		Concurrency: o.Concurrency, Seed: o.Seed, Mix: o.MixName, Timeout: o.Timeout, Poll: o.Poll, Progress: e.stderr}
	if !o.NoCatalog {
		if spec.Inventory, err = e.inventoryStore(sf); err != nil {
			return err
		}
		spec.InventoryTable = sf.inventoryTable()
	}
	rep, err := RunLoad(ctx, spec)
	if err != nil {
		return err
	}
	rep.print(e.stdout)
	if o.Histogram != "" {
		f, err := os.Create(o.Histogram)
		if err != nil {
			return fmt.Errorf("histogram: %w", err)
		}
		title := fmt.Sprintf("orderflow load: %d orders, concurrency %d, seed %d — %.1f orders/s", o.Orders, o.Concurrency, o.Seed, rep.Rate)
		werr := writeHistogramSVG(f, title, rep.Latencies)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return fmt.Errorf("histogram: %w", werr)
		}
		fmt.Fprintf(e.stdout, "histogram   %s\n", o.Histogram)
	}
	return rep.err()
}

// LoadSpec is one run of the load generator: `orderflow load`'s flags, for the CLI and
// the console.
type LoadSpec struct {
	// API is the HTTP API's base URL; Authorization its Authorization header (empty: none).
	API, Authorization  string
	Orders, Concurrency int
	// Seed and Mix ("default", "valid" or kind=weight,...) choose the orders.
	Seed uint64
	Mix  string
	// Timeout bounds the wait for one order's terminal status; Poll is the GET interval.
	Timeout, Poll time.Duration
	// Inventory, when set, gets the LOAD-* SKUs before the run (InventoryTable names its
	// table in errors).
	Inventory      stockStore
	InventoryTable string
	// Progress, when set, receives a progress bar.
	Progress io.Writer
	// OnOutcome, when set, is called as each order ends (from several goroutines).
	OnOutcome func(LoadOutcome)
}

// LoadOutcome is how one order of a load run ended.
type LoadOutcome struct {
	// Kind is the kind of order sent (valid, out-of-stock, declined, unknown-sku, invalid).
	Kind string
	// Result is "STATUS", "STATUS/REASON", "HTTP nnn", "TIMEOUT" or "ERROR".
	Result string
	// Latency is from the POST to the terminal status; Terminal whether it was reached.
	Latency  time.Duration
	Terminal bool
	// Expected is whether the order ended as its kind must.
	Expected bool
}

// RunLoad sets up the load catalog (when spec.Inventory is set), sends the orders and
// returns the report. It returns a usage error for a bad spec, the catalog's error, or an
// error when ctx ends first; orders that fail are counted in the report, not returned.
func RunLoad(ctx context.Context, spec LoadSpec) (*LoadReport, error) {
	if spec.Orders < 1 || spec.Concurrency < 1 {
		return nil, usageError("load: orders and concurrency must be >= 1")
	}
	if spec.Timeout <= 0 || spec.Poll <= 0 {
		return nil, usageError("load: timeout and poll must be > 0")
	}
	mix, err := parseMix(spec.Mix)
	if err != nil {
		return nil, usageError("load: %v", err)
	}
	c, err := newAPIClient(spec.API, spec.Authorization)
	if err != nil {
		return nil, err
	}
	if spec.Inventory != nil {
		for _, it := range loadCatalog() {
			if err := spec.Inventory.Put(ctx, it); err != nil {
				return nil, fmt.Errorf("load: set up catalog in %s (or use --no-catalog): %w", spec.InventoryTable, err)
			}
		}
	}
	l := &loader{API: c, Opts: loadOptions{Orders: spec.Orders, Concurrency: spec.Concurrency, Seed: spec.Seed,
		Mix: mix, Timeout: spec.Timeout, Poll: spec.Poll}, Progress: spec.Progress}
	if spec.OnOutcome != nil {
		l.OnOutcome = func(o outcome) {
			spec.OnOutcome(LoadOutcome{Kind: string(o.Kind), Result: o.Result, Latency: o.Latency,
				Terminal: o.Terminal, Expected: o.Result == o.Kind.expected()})
		}
	}
	return l.Run(ctx)
}

// orderAPI is what the loader needs of the HTTP API.
type orderAPI interface {
	createOrder(ctx context.Context, body []byte, key string) (apiResponse, error)
	orderGetter
}

// loader sends a planned mix of orders and follows each to its end.
type loader struct {
	API  orderAPI
	Opts loadOptions
	// Progress receives the progress bar; nil for none.
	Progress io.Writer
	// RunID keeps the idempotency keys of two runs with one seed apart; random when empty.
	RunID string
	// OnOutcome, when set, is called as each order ends.
	OnOutcome func(outcome)
}

// outcome is how one order ended.
type outcome struct {
	Kind orderKind
	// Result is "STATUS", "STATUS/REASON", "HTTP nnn", "TIMEOUT" or "ERROR".
	Result  string
	Latency time.Duration
	// Terminal is whether the order reached a terminal status (its latency counts).
	Terminal bool
	Err      error
}

// LoadReport is the result of a load run.
type LoadReport struct {
	Orders     int
	Elapsed    time.Duration
	Rate       float64
	Latencies  []time.Duration
	Results    map[string]int
	Unexpected map[string]int
	Failed     int
	FirstErr   error
}

// Run sends the orders and returns the report. It returns an error only when ctx ends.
func (l *loader) Run(ctx context.Context) (*LoadReport, error) {
	plan := planOrders(l.Opts.Orders, l.Opts.Seed, l.Opts.Mix)
	runID := l.RunID
	if runID == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		runID = hex.EncodeToString(b[:])
	}
	var bar *progress
	if l.Progress != nil {
		bar = newProgress(l.Progress, len(plan))
		bar.Start()
	}
	outcomes := make([]outcome, len(plan))
	start := time.Now()
	loadgen.Run(ctx, len(plan), l.Opts.Concurrency, func(i int) {
		key := fmt.Sprintf("load-%s-%d-%d", runID, l.Opts.Seed, i)
		outcomes[i] = l.one(ctx, plan[i], key)
		if l.OnOutcome != nil {
			l.OnOutcome(outcomes[i])
		}
		if bar != nil {
			bar.Add(1)
		}
	})
	elapsed := time.Since(start)
	if bar != nil {
		bar.Stop()
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("load interrupted: %w", err)
	}

	rep := &LoadReport{Orders: len(plan), Elapsed: elapsed, Results: map[string]int{}, Unexpected: map[string]int{}}
	rep.Rate = float64(len(plan)) / elapsed.Seconds()
	for _, o := range outcomes {
		rep.Results[o.Result]++
		if o.Terminal {
			rep.Latencies = append(rep.Latencies, o.Latency)
		}
		if o.Err != nil {
			rep.Failed++
			if rep.FirstErr == nil {
				rep.FirstErr = o.Err
			}
		}
		if want := o.Kind.expected(); o.Result != want {
			rep.Unexpected[fmt.Sprintf("%s→%s", o.Kind, o.Result)]++
		}
	}
	return rep, nil
}

// one sends one order and waits for its end. The POST is retried under loadgen.Brief.
func (l *loader) one(ctx context.Context, p plannedOrder, key string) outcome {
	out := outcome{Kind: p.Kind}
	start := time.Now()
	post := loadgen.Brief.Do(ctx, func(ctx context.Context) (loadgen.Answer, error) {
		r, err := l.API.createOrder(ctx, p.Body, key)
		return loadgen.Answer{Status: r.Status, Body: r.Body}, err
	})
	resp, err := apiResponse{Status: post.Status, Body: post.Body}, post.Err
	switch {
	case err != nil:
		out.Result, out.Err = "ERROR", err
		return out
	case resp.Status != 202 && resp.Status != 200:
		out.Result, out.Latency = fmt.Sprintf("HTTP %d", resp.Status), time.Since(start)
		if resp.Status >= 500 {
			out.Err = resp.err()
		}
		return out
	}
	var created order.Order
	if err := json.Unmarshal(resp.Body, &created); err != nil || created.ID == "" {
		out.Result, out.Err = "ERROR", fmt.Errorf("POST /orders answered %d without an order: %s", resp.Status, truncate(string(resp.Body), 200))
		return out
	}
	wctx, cancel := context.WithTimeout(ctx, l.Opts.Timeout)
	defer cancel()
	final, err := waitTerminal(wctx, l.API, created.ID, l.Opts.Poll)
	switch {
	case errors.Is(err, errNotTerminal):
		out.Result, out.Err = "TIMEOUT", err
		return out
	case err != nil:
		out.Result, out.Err = "ERROR", err
		return out
	}
	out.Latency, out.Terminal = time.Since(start), true
	out.Result = string(final.Status)
	if final.FailureReason != "" {
		out.Result += "/" + string(final.FailureReason)
	}
	return out
}

// print writes the report.
func (r *LoadReport) print(w io.Writer) {
	fmt.Fprintf(w, "orders      %d in %v (%.1f orders/s)\n", r.Orders, roundDuration(r.Elapsed), r.Rate)
	fmt.Fprintf(w, "latency     %s\n", Summarize(r.Latencies))
	fmt.Fprintf(w, "results     %s\n", countLine(r.Results))
	if len(r.Unexpected) == 0 {
		fmt.Fprintf(w, "expected    all %d orders ended as their kind must\n", r.Orders)
	} else {
		n := 0
		for _, c := range r.Unexpected {
			n += c
		}
		fmt.Fprintf(w, "unexpected  %d: %s\n", n, countLine(r.Unexpected))
	}
	if r.FirstErr != nil {
		fmt.Fprintf(w, "errors      %d, first: %v\n", r.Failed, r.FirstErr)
	}
}

// err is the run's verdict: an error when an order failed, timed out or ended otherwise
// than its kind must.
func (r *LoadReport) err() error {
	n := 0
	for _, c := range r.Unexpected {
		n += c
	}
	if n > 0 {
		return fmt.Errorf("load: %d of %d orders did not end as expected", n, r.Orders)
	}
	return nil
}
