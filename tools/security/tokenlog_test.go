package security

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/pkg/event"
	"github.com/orderflow/orderflow/pkg/handler/ingest"
	"github.com/orderflow/orderflow/pkg/handler/process"
	"github.com/orderflow/orderflow/pkg/handler/publisher"
	"github.com/orderflow/orderflow/pkg/inventory"
	"github.com/orderflow/orderflow/pkg/logging"
	"github.com/orderflow/orderflow/pkg/memstore"
	"github.com/orderflow/orderflow/pkg/order"
	"github.com/orderflow/orderflow/pkg/payment"
)

// busRecorder keeps every published event as JSON.
type busRecorder struct {
	mu   sync.Mutex
	json bytes.Buffer
}

func (b *busRecorder) Publish(_ context.Context, evs ...event.Event) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ev := range evs {
		if err := json.NewEncoder(&b.json).Encode(ev); err != nil {
			return err
		}
	}
	return nil
}

// The payment token of an order run through the real ingest and process handlers (over
// the in-memory stores, every log line at debug level, the default logger captured too)
// appears in no answer, no published event, no task output and no log line: on the
// paths where it is used (authorized, declined by the limit) and where it is refused
// (invalid request). The same check over the real binaries is
// cmd/orderflow/internal/stack's TestBadInputOverHTTP.
func TestPaymentTokenNotInHandlerLogs(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return logs.Write(p) })
	log := slog.New(logging.NewHandler(w, slog.LevelDebug))
	defaultLog := slog.Default()
	slog.SetDefault(log) // anything that logs through the default logger is captured too
	t.Cleanup(func() { slog.SetDefault(defaultLog) })

	ctx := context.Background()
	orders := memstore.NewOrderStore()
	bus := &busRecorder{}
	api := &ingest.Handler{Orders: orders, Intake: memstore.NewIntakeStore(orders), Log: log}
	tasks := &process.Handler{Orders: orders, Catalog: memstore.NewInventoryStore(inventory.Item{SKU: "SKU-1", Price: 1250, Currency: "USD", Stock: 1_000_000}),
		Payments: payment.Gateway{Limit: 10_000}, Log: log}
	// The events are what the orders table's stream publishes for each stored change.
	var prev *order.Order
	announce := func(id string) {
		cur, err := orders.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if ev, ok := publisher.Change(prev, cur); ok {
			if err := bus.Publish(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		prev = cur
	}

	cases := []struct {
		name     string
		quantity int
		currency string
		status   int
		declined bool
	}{
		{name: "authorized", quantity: 2, currency: "USD", status: 202},
		{name: "declined above the limit", quantity: 100, currency: "USD", status: 202, declined: true},
		{name: "refused by the API", quantity: 1, currency: "XYZ", status: 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			token := "tok_" + randomHex(t)
			var out bytes.Buffer
			req := events.APIGatewayV2HTTPRequest{RouteKey: "POST /orders", RawPath: "/orders",
				Headers: map[string]string{"content-type": "application/json", "idempotency-key": "k-" + randomHex(t)},
				Body: fmt.Sprintf(`{"customerId":"c-1","currency":%q,"lines":[{"sku":"SKU-1","quantity":%d}],"paymentToken":%q}`,
					tc.currency, tc.quantity, token)}
			req.RequestContext.HTTP.Method = "POST"
			resp, _ := api.Handle(ctx, req)
			out.WriteString(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("POST: %d %s", resp.StatusCode, resp.Body)
			}
			if resp.StatusCode == 202 {
				var created struct{ OrderID, CorrelationID string }
				if err := json.Unmarshal([]byte(resp.Body), &created); err != nil {
					t.Fatal(err)
				}
				stored, err := orders.Get(ctx, created.OrderID)
				if err != nil || stored.PaymentToken != token {
					t.Fatalf("the token is not stored for the payment step: %v", err)
				}
				prev = nil
				announce(created.OrderID)
				for _, action := range []string{"validate", "authorize"} {
					o, err := tasks.Handle(ctx, process.Task{Action: action, OrderID: created.OrderID, CorrelationID: created.CorrelationID})
					announce(created.OrderID)
					b, _ := json.Marshal(o) // the task output Step Functions records
					out.Write(b)
					if err != nil {
						out.WriteString(err.Error()) // the error Step Functions records
						if _, ok := err.(*payment.PaymentDeclinedError); !(ok && tc.declined && action == "authorize") {
							t.Fatalf("%s: %T %v", action, err, err)
						}
					}
				}
				if tc.declined {
					o, err := tasks.Handle(ctx, process.Task{Action: "cancel", OrderID: created.OrderID, Reason: "PAYMENT_DECLINED"})
					if err != nil {
						t.Fatalf("cancel: %v", err)
					}
					announce(created.OrderID)
					b, _ := json.Marshal(o)
					out.Write(b)
				}
			}
			mu.Lock()
			logged := bytes.Clone(logs.Bytes())
			mu.Unlock()
			bus.mu.Lock()
			published := bytes.Clone(bus.json.Bytes())
			bus.mu.Unlock()
			if len(logged) == 0 {
				t.Fatal("nothing was logged; the capture does not work")
			}
			if tc.status == 202 && len(published) == 0 {
				t.Fatal("nothing was published; the capture does not work")
			}
			for where, text := range map[string][]byte{"an answer or task output": out.Bytes(), "a log line": logged, "a published event": published} {
				if bytes.Contains(text, []byte(token)) {
					t.Errorf("payment token in %s", where)
				}
			}
		})
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
