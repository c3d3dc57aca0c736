package event_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/events/schemas"
	"github.com/orderflow/orderflow/pkg/event"
	"github.com/orderflow/orderflow/pkg/order"
)

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func newOrder(t *testing.T) *order.Order {
	t.Helper()
	o, err := order.New(order.NewID(t0), order.Request{
		CustomerID: "c-1", Currency: "USD", PaymentToken: "tok_visa",
		Lines: []order.Line{{SKU: "SKU-1", Quantity: 2}, {SKU: "SKU-2", Quantity: 1}},
	}, "corr-1", t0)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// Every state change the code announces produces a detail that validates against the
// schema of its detail-type.
func TestEveryPublishedEventValidates(t *testing.T) {
	prices := map[string]int64{"SKU-1": 1250, "SKU-2": 999}
	cases := []struct {
		name  string
		steps func(*order.Order) error
		want  string
	}{
		{"created", func(*order.Order) error { return nil }, event.OrderCreated},
		{"confirmed", func(o *order.Order) error {
			return chain(o.Price(prices, t0), o.MarkReserved(t0), o.MarkPaid(t0), o.Confirm(t0))
		}, event.OrderConfirmed},
		{"rejected unknown sku", func(o *order.Order) error { return o.Reject(order.ReasonUnknownSKU, t0) }, event.OrderRejected},
		{"rejected invalid", func(o *order.Order) error { return o.Reject(order.ReasonInvalidOrder, t0) }, event.OrderRejected},
		{"cancelled out of stock", func(o *order.Order) error {
			return chain(o.Price(prices, t0), o.Cancel(order.ReasonOutOfStock, t0))
		}, event.OrderCancelled},
		{"cancelled payment declined", func(o *order.Order) error {
			return chain(o.Price(prices, t0), o.MarkReserved(t0), o.Cancel(order.ReasonPaymentDeclined, t0))
		}, event.OrderCancelled},
		{"cancelled processing failed", func(o *order.Order) error { return o.Cancel(order.ReasonProcessingFailed, t0) }, event.OrderCancelled},
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := newOrder(t)
			if err := tc.steps(o); err != nil {
				t.Fatal(err)
			}
			ev, ok := event.FromOrder(o, t0)
			if !ok || ev.DetailType != tc.want {
				t.Fatalf("FromOrder = %q, %v; want %q", ev.DetailType, ok, tc.want)
			}
			raw, err := json.Marshal(ev.Detail)
			if err != nil {
				t.Fatal(err)
			}
			if err := schemas.Validate(ev.DetailType, raw); err != nil {
				t.Fatalf("schema: %v\n%s", err, raw)
			}
			if strings.Contains(string(raw), "tok_visa") {
				t.Fatalf("payment token published: %s", raw)
			}
			seen[ev.DetailType] = true
		})
	}
	for _, dt := range event.DetailTypes {
		if !seen[dt] {
			t.Errorf("no case publishes %q", dt)
		}
	}
	if len(schemas.Names()) != len(event.DetailTypes) {
		t.Errorf("schemas %v, detail types %v: one without the other", schemas.Names(), event.DetailTypes)
	}
}

func chain(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// The schemas are strict enough to catch the mistakes a producer could make.
func TestSchemasRejectBadDetails(t *testing.T) {
	o := newOrder(t)
	ev, _ := event.FromOrder(o, t0)
	good, _ := json.Marshal(ev.Detail)
	mutate := func(f func(m map[string]any)) []byte {
		var m map[string]any
		_ = json.Unmarshal(good, &m)
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	data := func(m map[string]any) map[string]any { return m["data"].(map[string]any) }
	cases := []struct {
		name   string
		dt     string
		detail []byte
	}{
		{"missing event id", event.OrderCreated, mutate(func(m map[string]any) { delete(m["metadata"].(map[string]any), "eventId") })},
		{"float total", event.OrderCreated, mutate(func(m map[string]any) { data(m)["total"] = 12.5 })},
		{"unknown field", event.OrderCreated, mutate(func(m map[string]any) { data(m)["paymentToken"] = "tok" })},
		{"wrong status for type", event.OrderConfirmed, good},
		{"bad currency", event.OrderCreated, mutate(func(m map[string]any) { data(m)["currency"] = "usd" })},
		{"bad time", event.OrderCreated, mutate(func(m map[string]any) { m["metadata"].(map[string]any)["occurredAt"] = "yesterday" })},
		{"unknown detail type", "Order Shipped", good},
		{"not json", event.OrderCreated, []byte("{")},
	}
	if err := schemas.Validate(event.OrderCreated, good); err != nil {
		t.Fatalf("good detail rejected: %v", err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := schemas.Validate(tc.dt, tc.detail); err == nil {
				t.Fatalf("accepted %s", tc.detail)
			}
		})
	}
}

func TestIDIsStablePerStateChange(t *testing.T) {
	a := event.ID("o-1", order.StatusConfirmed)
	if a != event.ID("o-1", order.StatusConfirmed) {
		t.Fatal("same order and status gave two ids")
	}
	if a == event.ID("o-1", order.StatusCancelled) || a == event.ID("o-2", order.StatusConfirmed) {
		t.Fatal("different state changes share an id")
	}
	if a != "o-1:CONFIRMED" {
		t.Fatalf("ID = %q; the state machine builds Order Confirmed ids as <orderId>:CONFIRMED", a)
	}
}

func TestSchemaFile(t *testing.T) {
	for dt, want := range map[string]string{event.OrderCreated: "order-created.json", event.OrderCancelled: "order-cancelled.json"} {
		if got := schemas.File(dt); got != want {
			t.Errorf("File(%q) = %q, want %q", dt, got, want)
		}
	}
}
