package stack

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/orderflow/orderflow/cmd/internal/loadgen"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/audit"
	"github.com/orderflow/orderflow/cmd/orderflow/internal/chaos"
	"github.com/orderflow/orderflow/pkg/dynamo"
	"github.com/orderflow/orderflow/pkg/retry"
)

// TestCarefulClientAgainstCrashingIngest is the experiment from outside: ingest
// is killed in about a third of its invokes (before its write, or after it as it answers), and a
// client sends 60 requests, retrying each with the same Idempotency-Key and body until it
// gets a 202. Every request must make exactly one order (no twin), answered with its id,
// and every order must be processed (none stranded PENDING). Before the transactional
// intake (main at ca8847f) the same run made 62 orders for 60 requests: 2 twins, 1 order
// PENDING for good, 385 client retries; after it, 60 orders and as many retries as kills.
func TestCarefulClientAgainstCrashingIngest(t *testing.T) {
	spec := chaos.Spec{Seed: 7, Crash: chaos.Crash{Rate: 0.33, Functions: []string{"ingest"}, MaxCalls: 1}}
	s := up(t, Options{Build: true, Dir: repoRoot(t), Faults: &spec})
	t.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	poster := &loadgen.Poster{Client: &http.Client{Timeout: 30 * time.Second}, API: s.HTTPURL, Rule: loadgen.Patient}
	const n = 60
	answered := map[string]bool{}
	retries, unanswered := 0, 0
	for i := range n {
		body := []byte(fmt.Sprintf(`{"customerId":"careful-%d","currency":"USD","lines":[{"sku":"SKU-MUG-001","quantity":1}],"paymentToken":"tok_visa"}`, i))
		// Until a 202, however long it takes (loadgen.Patient gives up after 45 s).
		var status int
		var id string
		for giveUp := time.Now().Add(3 * time.Minute); status != http.StatusAccepted && time.Now().Before(giveUp) && ctx.Err() == nil; {
			r := poster.Post(ctx, fmt.Sprintf("careful-%d", i), body)
			status, id = r.Status, r.OrderID
			retries += r.Retries
		}
		if status != http.StatusAccepted || id == "" {
			t.Errorf("request %d: no 202 within 3 minutes (last status %d)", i, status)
			unanswered++
			continue
		}
		answered[id] = true
	}
	crashes := chaos.Sum(s.Faults.Stats().Crashes)
	s.Faults.Set(chaos.Spec{}) // the orders finish without faults

	ddb := dynamodb.NewFromConfig(s.Config)
	var orders, stranded int
	deadline := time.Now().Add(2 * time.Minute)
	for {
		orders, stranded = 0, 0
		if err := audit.Scan(ctx, ddb, s.Tables["OrdersTable"], func(it map[string]ddbtypes.AttributeValue) error {
			orders++
			if o, err := dynamo.DecodeOrder(it); err != nil || !o.Status.Terminal() {
				stranded++
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if stranded == 0 || time.Now().After(deadline) {
			break
		}
		_ = retry.Sleep(ctx, time.Second)
	}
	t.Logf("%d requests (%d never answered 202), %d client retries, %d ingest processes killed: %d orders, %d distinct answered, %d not answered to any request (twins), %d not terminal after 2 minutes",
		n, unanswered, retries, crashes, orders, len(answered), orders-len(answered), stranded)
	if crashes == 0 {
		t.Error("ingest was never killed: the experiment tested nothing")
	}
	if orders != n || len(answered) != n || stranded != 0 {
		t.Errorf("%d requests made %d orders (%d answered, %d twins), %d stranded; want %d, no twin, none stranded",
			n, orders, len(answered), orders-len(answered), stranded, n)
	}
}
