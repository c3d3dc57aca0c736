package stack

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/orderflow/orderflow/cmd/internal/loadgen"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/audit"
	"github.com/orderflow/orderflow/cmd/orderflow/internal/chaos"
	"github.com/orderflow/orderflow/pkg/dynamo"
	"github.com/orderflow/orderflow/pkg/inventory"
	"github.com/orderflow/orderflow/pkg/retry"
)

// TestRaceOnOneSKU: 50 concurrent orders of one unit on a SKU with stock 10 end with
// exactly 10 CONFIRMED, 40 CANCELLED/OUT_OF_STOCK and stock 0.
func TestRaceOnOneSKU(t *testing.T) { raceOnOneSKU(t, nil, nil) }

// TestRaceOnOneSKUUnderLimits is the same race under the simulated AWS limits at scale
// 100 (the SKU's stock item takes 10 WCU/s, 5 reservations; concurrent reservations
// conflict; StartExecution refills 3/s): what the limits refuse is retried by the SDK,
// the inventory store, the queue and the rule delivery, and no order is lost, stuck or
// oversold. It runs once with each InventoryStrategy: the conditional one meets no
// conflict on the SKU's item (it writes it outside transactions); both retry what the
// limits refuse inside the invoke until near its deadline (pkg/dynamo.tryAgain). One run
// of both (2026-12-01): transaction 32 s, 377 transactions cancelled by ThrottlingError
// and 63 by TransactionConflict, conditional 29 s, and no reserve command failed a receive.
// Before the transactional store retried those cancellations in the invoke, 12 to 19
// commands a run came back from the queue 60 s later (92 to 163 s a run, against this
// test's 4-minute bound), and a third failure would have sent one to the DLQ.
func TestRaceOnOneSKUUnderLimits(t *testing.T) {
	for _, strategy := range []string{dynamo.StrategyTransaction, dynamo.StrategyConditional} {
		t.Run(strategy, func(t *testing.T) {
			raceOnOneSKU(t, &chaos.Spec{Limits: chaos.Limits{Scale: 100, ItemWrites: true, TransactionConflicts: true, StepFunctions: true}},
				map[string]string{"InventoryStrategy": strategy})
		})
	}
}

func raceOnOneSKU(t *testing.T, faults *chaos.Spec, params map[string]string) {
	s := up(t, Options{Build: true, Dir: repoRoot(t), Faults: faults, Parameters: params})
	if faults != nil {
		defer func() {
			for _, l := range s.Faults.Stats().Summary() {
				t.Log(l)
			}
		}()
	}
	t.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ddb := dynamodb.NewFromConfig(s.Config)
	const sku, stockLevel, n = "RACE-1", 10, 50
	it := inventory.Item{SKU: sku, Price: 500, Currency: "USD", Stock: stockLevel}
	if err := dynamo.NewInventoryStore(ddb, s.Tables["InventoryTable"]).Put(ctx, it); err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"customerId":"race","currency":"USD","lines":[{"sku":"` + sku + `","quantity":1}],"paymentToken":"tok_visa"}`)
	ids := make([]string, n)
	var wg sync.WaitGroup
	poster := &loadgen.Poster{Client: &http.Client{Timeout: 30 * time.Second}, API: s.HTTPURL, Rule: loadgen.Patient}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := poster.Post(ctx, fmt.Sprintf("race-%d", i), body)
			status, id := r.Status, r.OrderID
			if status != http.StatusAccepted {
				t.Errorf("order %d: status %d", i, status)
			}
			ids[i] = id
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	var counts map[string]int
	for ctx.Err() == nil {
		counts = map[string]int{}
		err := audit.Scan(ctx, ddb, s.Tables["OrdersTable"], func(it map[string]ddbtypes.AttributeValue) error {
			o, err := dynamo.DecodeOrder(it)
			if err != nil {
				return err
			}
			counts[string(o.Status)+"/"+string(o.FailureReason)]++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if counts["CONFIRMED/"]+counts["CANCELLED/OUT_OF_STOCK"] == n {
			break
		}
		_ = retry.Sleep(ctx, time.Second)
	}
	if counts["CONFIRMED/"] != stockLevel || counts["CANCELLED/OUT_OF_STOCK"] != n-stockLevel {
		t.Errorf("outcomes %v, want %d CONFIRMED and %d CANCELLED/OUT_OF_STOCK", counts, stockLevel, n-stockLevel)
	}
	if got := stock(t, s, sku); got != 0 {
		t.Errorf("stock of %s = %d, want 0", sku, got)
	}
}
