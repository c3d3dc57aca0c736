package stack

import (
	"context"
	"fmt"
	"github.com/orderflow/orderflow/cmd/internal/loadgen"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/audit"
	"github.com/orderflow/orderflow/cmd/orderflow/internal/chaos"
	"github.com/orderflow/orderflow/cmd/orderflow/internal/cli"
	"github.com/orderflow/orderflow/pkg/dynamo"
	"github.com/orderflow/orderflow/pkg/inventory"
	"github.com/orderflow/orderflow/pkg/order"
	"github.com/orderflow/orderflow/pkg/retry"
)

// flashConfig sizes a flash sale: Orders orders of one unit of one SKU with Stock
// units, posted at Rate orders/s, under the simulated per-item write capacity and
// transaction conflicts at Scale (chaos.Limits).
type flashConfig struct {
	Orders, Stock, Rate, Scale int
	Settle                     time.Duration // how long orders get to end after the last POST
}

// flashResult is one strategy's sale.
type flashResult struct {
	Strategy       string
	Accepted       int
	PostSeconds    float64
	Reserved       int     // units held by RESERVED reservations at the end
	ReserveSeconds float64 // first to last observed drop of the SKU's stock
	Outcomes       map[string]int
	Failed         int // orders that ended through conflicts or timeouts (CANCELLED/PROCESSING_FAILED)
	Oversold       int64
	Stuck          int // orders not terminal at the end, and reservations left half-way
	InDLQ          int
	Latency        cli.LatencySummary
	Limited        map[string]int64
}

func (r flashResult) rate() float64 {
	if r.ReserveSeconds <= 0 {
		return 0
	}
	return float64(r.Reserved) / r.ReserveSeconds
}

// TestFlashSale is `make flashsale`: the same sale on one hot SKU through the local
// stack (real bootstrap binaries, moto) under the simulated AWS limits, once with each
// InventoryStrategy, and the figures side by side (ORDERFLOW_FLASHSALE_REPORT, shown by
// `make bench` in bench/REPORT.md). It runs only with ORDERFLOW_FLASHSALE=1: about ten
// minutes on two cores. Every run must end with 0 oversold and 0 stuck orders.
func TestFlashSale(t *testing.T) {
	if os.Getenv("ORDERFLOW_FLASHSALE") == "" {
		t.Skip("make flashsale runs it (ORDERFLOW_FLASHSALE=1)")
	}
	c := flashConfig{
		Orders: envInt("ORDERFLOW_FLASHSALE_ORDERS", 100),
		Stock:  envInt("ORDERFLOW_FLASHSALE_STOCK", 50),
		Rate:   envInt("ORDERFLOW_FLASHSALE_RATE", 4),
		Scale:  envInt("ORDERFLOW_FLASHSALE_SCALE", 500),
		Settle: time.Duration(envInt("ORDERFLOW_FLASHSALE_SETTLE_SECONDS", 480)) * time.Second,
	}
	began := time.Now()
	var results []flashResult
	for _, strategy := range []string{dynamo.StrategyTransaction, dynamo.StrategyConditional} {
		r := flashSale(t, strategy, c)
		t.Logf("%s: %d reserved in %.1f s (%.2f/s); outcomes %v; oversold %d, stuck %d, in DLQ %d; p99 %s; limits %v",
			strategy, r.Reserved, r.ReserveSeconds, r.rate(), r.Outcomes, r.Oversold, r.Stuck, r.InDLQ, r.Latency.P99, r.Limited)
		results = append(results, r)
	}
	md := flashMarkdown(c, results, began, time.Since(began))
	t.Log("\n" + md)
	if path := os.Getenv("ORDERFLOW_FLASHSALE_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(md), 0o644); err != nil {
			t.Error(err)
		}
	}
	for _, r := range results {
		if r.Oversold != 0 || r.Stuck != 0 || r.Accepted != c.Orders {
			t.Errorf("%s: %d accepted of %d, %d oversold, %d stuck: want all accepted, none oversold or stuck", r.Strategy, r.Accepted, c.Orders, r.Oversold, r.Stuck)
		}
	}
}

// flashSale runs the sale with one strategy on a stack of its own.
func flashSale(t *testing.T, strategy string, c flashConfig) flashResult {
	spec := chaos.Spec{Limits: chaos.Limits{Scale: float64(c.Scale), ItemWrites: true, TransactionConflicts: true}}
	s := up(t, Options{Build: true, Dir: repoRoot(t), Faults: &spec, PoolSize: 3,
		Parameters: map[string]string{"InventoryStrategy": strategy}})
	defer s.Close()
	// Only the inventory table is limited: at this scale any other item (an order written
	// three times in a second, the analytics minute item) would reach a cap that no such
	// item nears at the sale's AWS rate, or that `orderflow plan` covers apart.
	sp := s.Faults.Spec()
	sp.Limits.Tables = []string{s.Tables["InventoryTable"]}
	s.Faults.Set(sp)
	ctx, cancel := context.WithTimeout(context.Background(), c.Settle+5*time.Minute)
	defer cancel()
	ddb := dynamodb.NewFromConfig(s.Config)
	store := dynamo.NewInventoryStore(ddb, s.Tables["InventoryTable"])
	const sku = "FLASH-1"
	if err := store.Put(ctx, inventory.Item{SKU: sku, Name: "Flash sale", Price: 500, Currency: "USD", Stock: int64(c.Stock)}); err != nil {
		t.Fatal(err)
	}
	r := flashResult{Strategy: strategy, Outcomes: map[string]int{}}

	// The stock's drops, as a reader polling the item sees them.
	var (
		mu          sync.Mutex
		first, last time.Time
	)
	watch, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		level := int64(c.Stock)
		for watch.Err() == nil {
			if it, err := store.Get(watch, sku); err == nil && it.Stock != level {
				if it.Stock < level {
					mu.Lock()
					if first.IsZero() {
						first = time.Now()
					}
					last = time.Now()
					mu.Unlock()
				}
				level = it.Stock
			}
			_ = retry.Sleep(watch, 100*time.Millisecond)
		}
	}()

	body := []byte(`{"customerId":"flash","currency":"USD","lines":[{"sku":"` + sku + `","quantity":1}],"paymentToken":"tok_visa"}`)
	poster := &loadgen.Poster{Client: &http.Client{Timeout: 30 * time.Second}, API: s.HTTPURL, Rule: loadgen.Patient}
	start := time.Now()
	var wg sync.WaitGroup
	var accepted sync.Map
	tick := time.NewTicker(time.Second / time.Duration(c.Rate))
	for i := range c.Orders {
		<-tick.C
		wg.Add(1)
		go func() {
			defer wg.Done()
			if res := poster.Post(ctx, fmt.Sprintf("flash-%s-%d", strategy, i), body); res.Status == http.StatusAccepted && res.OrderID != "" {
				accepted.Store(res.OrderID, true)
			}
		}()
	}
	tick.Stop()
	wg.Wait()
	r.PostSeconds = time.Since(start).Seconds()
	accepted.Range(func(any, any) bool { r.Accepted++; return true })

	settle, cancelSettle := context.WithTimeout(ctx, c.Settle)
	for settle.Err() == nil {
		if done, err := terminalOrders(settle, ddb, s.Tables["OrdersTable"]); err == nil && done >= r.Accepted {
			break
		}
		_ = retry.Sleep(settle, 2*time.Second)
	}
	cancelSettle()
	stopWatch()
	<-watched
	if !first.IsZero() {
		r.ReserveSeconds = last.Sub(first).Seconds()
	}

	var latencies []time.Duration
	err := audit.Scan(ctx, ddb, s.Tables["OrdersTable"], func(it map[string]ddbtypes.AttributeValue) error {
		o, err := dynamo.DecodeOrder(it)
		if err != nil {
			return err
		}
		r.Outcomes[strings.TrimSuffix(string(o.Status)+"/"+string(o.FailureReason), "/")]++
		if !o.Status.Terminal() {
			r.Stuck++
			return nil
		}
		latencies = append(latencies, o.UpdatedAt.Sub(o.CreatedAt))
		if o.Status == order.StatusCancelled && o.FailureReason == order.ReasonProcessingFailed {
			r.Failed++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r.Latency = cli.Summarize(latencies)

	var final int64
	err = audit.Scan(ctx, ddb, s.Tables["InventoryTable"], func(it map[string]ddbtypes.AttributeValue) error {
		rec, err := dynamo.DecodeInventory(it)
		switch {
		case err != nil:
			return err
		case rec.Item != nil && rec.Item.SKU == sku:
			final = rec.Item.Stock
		case rec.Reservation != nil && rec.Reservation.State == inventory.Reserved:
			for _, l := range rec.Reservation.Lines {
				r.Reserved += int(l.Quantity)
			}
		case rec.Reservation != nil && (rec.Reservation.State == inventory.Pending || rec.Reservation.State == inventory.Releasing):
			r.Stuck++ // left half-way (RELEASED and SHORT hold nothing)
			t.Logf("%s: reservation of order %s left %s", strategy, rec.Reservation.OrderID, rec.Reservation.State)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Oversold: units sold beyond the stock, a negative stock, or units gone from the
	// stock that no reservation holds (or held by none that took them).
	confirmed := r.Outcomes[string(order.StatusConfirmed)]
	r.Oversold = max(0, int64(confirmed-c.Stock), -final)
	if leak := int64(c.Stock) - final - int64(r.Reserved); leak != 0 {
		t.Errorf("%s: stock %d + reserved %d != initial %d", strategy, final, r.Reserved, c.Stock)
	}
	if confirmed != r.Reserved {
		t.Errorf("%s: %d confirmed orders, %d units reserved", strategy, confirmed, r.Reserved)
	}
	if url := s.Queues["InventoryCommandDlq"]; url != "" {
		out, err := sqs.NewFromConfig(s.Config).GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages}})
		if err == nil {
			fmt.Sscan(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)], &r.InDLQ)
		}
	}
	r.Limited = s.Faults.Stats().Limited
	return r
}

// flashMarkdown is the report section's body (bench/flashsale.md).
func flashMarkdown(c flashConfig, rs []flashResult, began time.Time, took time.Duration) string {
	var b strings.Builder
	wcu := float64(chaos.AWSItemWCU) / float64(c.Scale)
	fmt.Fprintf(&b, "`make flashsale` (%s, %s in all): %d orders of one unit of one SKU with %d units in stock, posted at %d orders/s, through the local stack (real bootstrap binaries, moto) under the simulated limits at scale %d on the inventory table: the SKU's item takes %.0f WCU/s (AWS's %d ÷ %d), a transactional write costs 2 WCU, concurrent transactions on it conflict. The other tables and Step Functions' buckets are not limited here (they would cap both paths alike; `orderflow plan` covers them). Same sale, one stack per strategy, one run:\n\n",
		began.UTC().Format("2006-01-02 15:04 MST"), took.Round(time.Second), c.Orders, c.Stock, c.Rate, c.Scale, wcu, chaos.AWSItemWCU, c.Scale)
	fmt.Fprintf(&b, "| InventoryStrategy | item cap | reservations/s | reserved | ended through conflicts/timeouts | in inventory DLQ | oversold | stuck | p50 | p99 | inventory writes throttled / conflicts (simulated) |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		capText := fmt.Sprintf("%.0f WCU/s = %.1f reservations/s", wcu, wcu/2)
		if r.Strategy == dynamo.StrategyConditional {
			capText = fmt.Sprintf("%.0f WCU/s = %.0f writes/s (one take, or a group of takes, per write)", wcu, wcu)
		}
		var throttled, conflicts int64
		keys := make([]string, 0, len(r.Limited))
		for k := range r.Limited {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			switch {
			case strings.Contains(k, "TransactionConflict"):
				conflicts += r.Limited[k]
			case strings.Contains(k, "Throttl") || strings.Contains(k, "ProvisionedThroughputExceeded"):
				throttled += r.Limited[k]
			}
		}
		fmt.Fprintf(&b, "| %s | %s | **%.2f** | %d in %.1f s | %d | %d | %d | %d | %.1f s | %.1f s | %d / %d |\n",
			r.Strategy, capText, r.rate(), r.Reserved, r.ReserveSeconds, r.Failed, r.InDLQ, r.Oversold, r.Stuck,
			r.Latency.P50.Seconds(), r.Latency.P99.Seconds(), throttled, conflicts)
	}
	if len(rs) == 2 && rs[0].rate() > 0 {
		fmt.Fprintf(&b, "\nconditional ÷ transaction: **%.1f×** the reservations per second (goal: ≥ 5×).\n", rs[1].rate()/rs[0].rate())
	}
	fmt.Fprintf(&b, "\nOutcomes:")
	for _, r := range rs {
		keys := make([]string, 0, len(r.Outcomes))
		for k := range r.Outcomes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s %d", k, r.Outcomes[k])
		}
		fmt.Fprintf(&b, " %s: %s (orders posted in %.1f s).", r.Strategy, strings.Join(parts, ", "), r.PostSeconds)
	}
	fmt.Fprintf(&b, "\n\nreservations/s: units held at the end ÷ the time from the first to the last drop of the SKU's stock a reader polling it every 100 ms saw. Oversold: units confirmed beyond the stock, or a negative stock; stuck: orders not terminal %s after the last POST, and reservations left PENDING or RELEASING. p50/p99: POST accepted → terminal status.\n", c.Settle)
	return b.String()
}
