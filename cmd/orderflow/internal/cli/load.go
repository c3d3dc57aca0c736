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
	"sync"
	"time"

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
	c, err := e.apiClient(sf)
	if err != nil {
		return err
	}
	if !o.NoCatalog {
		s, err := e.inventoryStore(sf)
		if err != nil {
			return err
		}
		for _, it := range loadCatalog() {
			if err := s.Put(ctx, it); err != nil {
				return fmt.Errorf("load: set up catalog in %s (or use --no-catalog): %w", sf.inventoryTable(), err)
			}
		}
	}
	l := &loader{API: c, Opts: *o, Progress: e.stderr}
	rep, err := l.Run(ctx)
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

// loadReport is the result of a run.
type loadReport struct {
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
func (l *loader) Run(ctx context.Context) (*loadReport, error) {
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
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range min(l.Opts.Concurrency, len(plan)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				key := fmt.Sprintf("load-%s-%d-%d", runID, l.Opts.Seed, i)
				outcomes[i] = l.one(ctx, plan[i], key)
				if bar != nil {
					bar.Add(1)
				}
			}
		}()
	}
feed:
	for i := range plan {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	elapsed := time.Since(start)
	if bar != nil {
		bar.Stop()
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("load interrupted: %w", err)
	}

	rep := &loadReport{Orders: len(plan), Elapsed: elapsed, Results: map[string]int{}, Unexpected: map[string]int{}}
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

// postAttempts bounds the POSTs of one order: transport errors, 429 and 503 are retried
// with the same idempotency key, so a retry never makes a second order.
const postAttempts = 5

// one sends one order and waits for its end.
func (l *loader) one(ctx context.Context, p plannedOrder, key string) outcome {
	out := outcome{Kind: p.Kind}
	start := time.Now()
	var resp apiResponse
	var err error
	for attempt := 1; ; attempt++ {
		resp, err = l.API.createOrder(ctx, p.Body, key)
		retry := err != nil || resp.Status == 429 || resp.Status == 503
		if !retry || attempt == postAttempts || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
		}
	}
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
func (r *loadReport) print(w io.Writer) {
	fmt.Fprintf(w, "orders      %d in %v (%.1f orders/s)\n", r.Orders, roundDuration(r.Elapsed), r.Rate)
	fmt.Fprintf(w, "latency     %s\n", summarize(r.Latencies))
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
func (r *loadReport) err() error {
	n := 0
	for _, c := range r.Unexpected {
		n += c
	}
	if n > 0 {
		return fmt.Errorf("load: %d of %d orders did not end as expected", n, r.Orders)
	}
	return nil
}
