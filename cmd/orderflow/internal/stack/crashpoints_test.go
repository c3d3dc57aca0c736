package stack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/cmd/internal/loadgen"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/audit"
	"github.com/orderflow/orderflow/cmd/orderflow/internal/chaos"
	"github.com/orderflow/orderflow/pkg/dynamo"
	"github.com/orderflow/orderflow/pkg/inventory"
	"github.com/orderflow/orderflow/pkg/order"
	"github.com/orderflow/orderflow/pkg/retry"
)

// crashCase is one deterministic crash point and the order it is exercised with.
type crashCase struct {
	name  string
	point chaos.CrashPoint
	sku   string // CRASH-A (in stock) or an unknown SKU
	token string
	want  order.Status
}

// TestCrashPoints kills functions at deterministic points, one order at a time, and
// retries as a careful client does (same Idempotency-Key and body until 202):
//   - ingest right after each of its AWS calls in turn, for as long as it makes calls
//     (since the transactional intake, one: the write of the order with its key);
//   - process right after each of its writes on the way to CONFIRMED, CANCELLED
//     (payment declined, with compensation) and REJECTED;
//   - inventory after each write of its reservation and after answering the task token, the publisher
//     after its PutEvents, notify after its SNS publish.
//
// Then: every accepted order is terminal (or in a DLQ with a reason); each retry got the
// order the key created; no key created two orders; every order was announced by exactly
// one Order Created and one terminal event, and notified once (distinct eventIds). Copies
// of one eventId, from at-least-once redelivery after a crash (a publisher batch or a
// notify invoke retried), are counted and reported, not violations: consumers
// deduplicate on eventId.
func TestCrashPoints(t *testing.T) {
	spec := chaos.Spec{} // no random fault: only the crash points set below
	// The conditional inventory strategy: its reservation is three writes, each a crash
	// point below (the transaction strategy's one write was covered before it).
	s := up(t, Options{Build: true, Dir: repoRoot(t), Faults: &spec, VisibilityTimeout: 2 * time.Second,
		Parameters: map[string]string{"InventoryStrategy": "conditional"}})
	t.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	ddb := dynamodb.NewFromConfig(s.Config)
	orders := dynamo.NewOrderStore(ddb, s.Tables["OrdersTable"])
	evCapture, nCapture, err := s.chaosCaptures(ctx)
	if err != nil {
		t.Fatal(err)
	}
	crashA := inventory.Item{SKU: "CRASH-A", Price: 1200, Currency: "USD", Stock: 1000}
	if err := dynamo.NewInventoryStore(ddb, s.Tables["InventoryTable"]).Put(ctx, crashA); err != nil {
		t.Fatal(err)
	}
	initial, err := skuStock(ctx, ddb, s.Tables["InventoryTable"])
	if err != nil {
		t.Fatal(err)
	}
	poster := &loadgen.Poster{Client: &http.Client{Timeout: 30 * time.Second}, API: s.HTTPURL, Rule: loadgen.Patient}

	// place runs one case: the crash point armed, one order posted and retried to a
	// 202, the order followed to its terminal status. It returns the order id and whether
	// the crash point fired.
	place := func(t *testing.T, c crashCase) (string, bool) {
		t.Helper()
		before := s.Faults.Stats().CrashPoints[c.point.String()]
		s.Faults.Set(chaos.Spec{CrashAt: []chaos.CrashPoint{c.point}})
		defer s.Faults.Set(chaos.Spec{})
		key := "crash-" + strings.ReplaceAll(c.name, " ", "-")
		body := []byte(fmt.Sprintf(`{"customerId":"crash","currency":"USD","lines":[{"sku":%q,"quantity":2}],"paymentToken":%q}`, c.sku, c.token))
		r := poster.Post(ctx, key, body)
		status, id, retries := r.Status, r.OrderID, r.Retries
		if status != http.StatusAccepted || id == "" {
			t.Fatalf("POST with key %s: %d after %d retries", key, status, retries)
		}
		var final *order.Order
		deadline := time.Now().Add(2 * time.Minute)
		for {
			o, err := orders.Get(ctx, id)
			if err == nil && o.Status.Terminal() {
				final = o
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("order %s not terminal after 2 minutes: %v %v", id, o, err)
			}
			_ = retry.Sleep(ctx, 200*time.Millisecond)
		}
		if final.Status != c.want {
			t.Errorf("order %s is %s %s, want %s", id, final.Status, final.FailureReason, c.want)
		}
		// The key made one order, the one the client was answered with, and a replay
		// answers it again.
		var made []string
		if err := audit.Scan(ctx, ddb, s.Tables["OrdersTable"], func(it map[string]ddbtypes.AttributeValue) error {
			o, err := dynamo.DecodeOrder(it)
			if err == nil && o.IdempotencyKey == key {
				made = append(made, o.ID)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if len(made) != 1 || made[0] != id {
			t.Errorf("key %s made orders %v, the client was answered with %s", key, made, id)
		}
		if again := poster.Post(ctx, key, body).OrderID; again != id {
			t.Errorf("replay of key %s answered order %s, want %s", key, again, id)
		}
		// A crash point of a function that runs after the order is terminal (the
		// publisher announcing it, notify) may fire a little later: wait for it.
		fired := s.Faults.Stats().CrashPoints[c.point.String()] > before
		for wait := time.Now().Add(30 * time.Second); !fired && c.point.Function != "ingest" && time.Now().Before(wait); {
			_ = retry.Sleep(ctx, 100*time.Millisecond)
			fired = s.Faults.Stats().CrashPoints[c.point.String()] > before
		}
		t.Logf("%s: order %s %s after %d client retries; crash point %q fired: %v", c.name, id, final.Status, retries, c.point, fired)
		return id, fired
	}

	// ingest after each of its calls in turn: as long as the crash point fires, the
	// invoke made that many calls.
	ingestPoints := 0
	for k := 1; ; k++ {
		_, fired := place(t, crashCase{name: fmt.Sprintf("ingest after call %d", k),
			point: chaos.CrashPoint{Function: "ingest", AfterCall: k, Times: 1}, sku: "CRASH-A", token: "tok_visa", want: order.StatusConfirmed})
		if !fired {
			break
		}
		ingestPoints++
	}
	if ingestPoints == 0 {
		t.Fatal("no ingest crash point fired: the crash points do not work")
	}
	t.Logf("ingest makes %d AWS call(s) per keyed POST; killed after each of them", ingestPoints)

	put := func(skip int) chaos.CrashPoint {
		return chaos.CrashPoint{Function: "process", Operation: "PutItem", Skip: skip, Times: 1}
	}
	cases := []crashCase{
		{"process after validate's write", put(0), "CRASH-A", "tok_visa", order.StatusConfirmed},
		{"process after authorize's write (confirmed)", put(1), "CRASH-A", "tok_visa", order.StatusConfirmed},
		{"process after validate's write (declined)", put(0), "CRASH-A", "tok_decline", order.StatusCancelled},
		{"process after authorize's write (declined, reserved)", put(1), "CRASH-A", "tok_decline", order.StatusCancelled},
		{"process after cancel's write (declined)", put(2), "CRASH-A", "tok_decline", order.StatusCancelled},
		{"process after reject's write", put(0), "CRASH-NOSUCH", "tok_visa", order.StatusRejected},
		// InventoryStrategy=conditional (pkg/dynamo): the PENDING record, the take of the
		// line, the record RESERVED. A redelivery waits for the
		// killed call's lease and finishes the reservation from its marks.
		{"inventory after its pending reservation", chaos.CrashPoint{Function: "inventory", Operation: "PutItem", Times: 1}, "CRASH-A", "tok_visa", order.StatusConfirmed},
		{"inventory after taking the stock", chaos.CrashPoint{Function: "inventory", Operation: "UpdateItem", Times: 1}, "CRASH-A", "tok_visa", order.StatusConfirmed},
		{"inventory after its reservation", chaos.CrashPoint{Function: "inventory", Operation: "UpdateItem", AfterCall: 2, Times: 1}, "CRASH-A", "tok_visa", order.StatusConfirmed},
		{"inventory after answering the task token", chaos.CrashPoint{Function: "inventory", Operation: "SendTaskSuccess", Times: 1}, "CRASH-A", "tok_visa", order.StatusConfirmed},
		{"publisher after its PutEvents", chaos.CrashPoint{Function: "publisher", Operation: "PutEvents", Times: 1}, "CRASH-A", "tok_visa", order.StatusConfirmed},
		{"notify after its SNS publish", chaos.CrashPoint{Function: "notify", Operation: "Publish", Times: 1}, "CRASH-A", "tok_visa", order.StatusConfirmed},
	}
	for _, c := range cases {
		if _, fired := place(t, c); !fired {
			t.Errorf("%s: the crash point %q never fired", c.name, c.point)
		}
	}

	// Let the at-least-once machinery finish (notify's retries after its crash come 5
	// and 15 s later): the stack settled, every order terminal; then audit everything.
	settleCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	want := ingestPoints + 1 + len(cases)
	err = s.WaitSettled(settleCtx, func(ctx context.Context) (bool, string, error) {
		done, err := terminalOrders(ctx, ddb, s.Tables["OrdersTable"])
		return done == want, fmt.Sprintf("%d of %d orders terminal", done, want), err
	})
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	var dlqs []string
	for id, url := range s.Queues {
		if strings.Contains(strings.ToLower(id), "dlq") {
			dlqs = append(dlqs, url)
		}
	}
	r, err := audit.Run(ctx, audit.Config{DynamoDB: ddb, SQS: sqs.NewFromConfig(s.Config),
		S3:          s3.NewFromConfig(s.Config, func(o *s3.Options) { o.UsePathStyle = true }),
		OrdersTable: s.Tables["OrdersTable"], InventoryTable: s.Tables["InventoryTable"], MetricsTable: s.Tables["MetricsTable"],
		Bucket: s.Bucket, DLQs: dlqs, FailureBuckets: s.failureBuckets(), EventCapture: evCapture, NotificationCapture: nCapture,
		Initial: initial})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	r.Write(&b)
	t.Log("\n" + b.String())
	if !r.OK() {
		t.Fatalf("audit after the crash points: %d violations", len(r.Violations))
	}
	if len(r.Twins) != 0 || len(r.Lost) != 0 || len(r.Stranded) != 0 || len(r.InDLQ) != 0 {
		t.Errorf("twins %v, lost %v, stranded %v, in a DLQ %v: want none", r.Twins, r.Lost, r.Stranded, r.InDLQ)
	}
	if r.Orders != ingestPoints+1+len(cases) {
		t.Errorf("%d orders in the table, want one per case (%d)", r.Orders, ingestPoints+1+len(cases))
	}
	// The publisher crash published its batch twice, under the same eventIds.
	if r.CreatedDuplicates+r.EventDuplicates == 0 {
		t.Error("no event copy was seen although the publisher was killed after a PutEvents")
	}
	t.Logf("copies of an eventId (at-least-once, not violations): Order Created %d, terminal events %d, notifications %d",
		r.CreatedDuplicates, r.EventDuplicates, r.DuplicateNotifications)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("ran out of time")
	}
}
