package process_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/pkg/event"
	"github.com/orderflow/orderflow/pkg/handler/ingest"
	"github.com/orderflow/orderflow/pkg/handler/process"
	"github.com/orderflow/orderflow/pkg/handler/publisher"
	"github.com/orderflow/orderflow/pkg/memstore"
	"github.com/orderflow/orderflow/pkg/order"
	"github.com/orderflow/orderflow/pkg/payment"
)

// TestFlowOverMemstore runs an order through both handlers over pkg/memstore (the
// stores' in-memory twins): POST /orders, the state machine's tasks in saga order
// (retried once each, as Step Functions may), then GET /orders/{id}. The events are what
// the orders table's stream would announce (publisher.Change of every write): one per
// state change, however often a task is retried.
func TestFlowOverMemstore(t *testing.T) {
	tests := []struct {
		name   string
		token  string
		steps  []process.Task // orderId filled in
		want   order.Status
		events []string
	}{
		{"happy path", "tok_visa",
			[]process.Task{{Action: "validate"}, {Action: "validate"}, {Action: "authorize"}, {Action: "authorize"}},
			order.StatusConfirmed, []string{event.OrderCreated, event.OrderConfirmed}},
		{"declined then cancelled", payment.DeclineToken,
			[]process.Task{{Action: "validate"}, {Action: "authorize"}, {Action: "cancel", Reason: "PAYMENT_DECLINED"}, {Action: "cancel", Reason: "PAYMENT_DECLINED"}},
			order.StatusCancelled, []string{event.OrderCreated, event.OrderCancelled}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			orders := memstore.NewOrderStore()
			stream := &stream{OrderStore: orders}
			api := &ingest.Handler{Orders: orders, Intake: memstore.NewIntakeStore(orders), Log: slog.New(slog.DiscardHandler)}
			tasks := &process.Handler{Orders: stream, Catalog: memstore.NewInventoryStore(usdCatalog...),
				Payments: payment.Gateway{}, Log: slog.New(slog.DiscardHandler)}

			req := events.APIGatewayV2HTTPRequest{RouteKey: "POST /orders", RawPath: "/orders",
				Headers: map[string]string{"content-type": "application/json", "idempotency-key": "flow-1"},
				Body:    `{"customerId":"c1","currency":"USD","lines":[{"sku":"SKU-1","quantity":2},{"sku":"SKU-2","quantity":1}],"paymentToken":"` + tt.token + `"}`}
			req.RequestContext.HTTP.Method = "POST"
			resp, _ := api.Handle(ctx, req)
			if resp.StatusCode != 202 {
				t.Fatalf("POST: %d %s", resp.StatusCode, resp.Body)
			}
			var created order.Order
			if err := json.Unmarshal([]byte(resp.Body), &created); err != nil {
				t.Fatal(err)
			}
			stored, err := orders.Get(ctx, created.ID)
			if err != nil {
				t.Fatal(err)
			}
			stream.announce(nil, stored) // the INSERT
			for _, step := range tt.steps {
				step.OrderID, step.CorrelationID = created.ID, created.CorrelationID
				_, err := tasks.Handle(ctx, step)
				if step.Action == "authorize" && tt.token == payment.DeclineToken {
					if _, ok := err.(*payment.PaymentDeclinedError); !ok { // unwrapped, as the ASL needs
						t.Fatalf("authorize: %T %v, want *payment.PaymentDeclinedError", err, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %T %v", step.Action, err, err)
				}
			}
			get := events.APIGatewayV2HTTPRequest{RouteKey: "GET /orders/{orderId}", RawPath: "/orders/" + created.ID,
				PathParameters: map[string]string{"orderId": created.ID}}
			get.RequestContext.HTTP.Method = "GET"
			resp, _ = api.Handle(ctx, get)
			var got order.Order
			if err := json.Unmarshal([]byte(resp.Body), &got); err != nil || resp.StatusCode != 200 {
				t.Fatalf("GET: %d %s", resp.StatusCode, resp.Body)
			}
			if got.Status != tt.want || (tt.want == order.StatusConfirmed && got.Total != 3000) {
				t.Errorf("status %s total %d, want %s", got.Status, got.Total, tt.want)
			}
			var types []string
			for _, ev := range stream.events {
				types = append(types, ev.DetailType)
			}
			if len(types) != len(tt.events) {
				t.Fatalf("events %v, want %v", types, tt.events)
			}
			for i := range types {
				if types[i] != tt.events[i] {
					t.Errorf("events %v, want %v", types, tt.events)
				}
			}
		})
	}
}

// stream stands in for the orders table's stream: every write through Update is a change,
// announced as pkg/handler/publisher announces it.
type stream struct {
	*memstore.OrderStore
	events []event.Event
}

func (s *stream) Update(ctx context.Context, id string, fn func(*order.Order) error) (*order.Order, error) {
	before, err := s.OrderStore.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	after, err := s.OrderStore.Update(ctx, id, fn)
	if err == nil {
		s.announce(before, after)
	}
	return after, err
}

func (s *stream) announce(old, now *order.Order) {
	if ev, ok := publisher.Change(old, now); ok {
		s.events = append(s.events, ev)
	}
}
