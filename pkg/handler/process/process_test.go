package process_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/orderflow/orderflow/pkg/event"
	"github.com/orderflow/orderflow/pkg/handler/process"
	"github.com/orderflow/orderflow/pkg/inventory"
	"github.com/orderflow/orderflow/pkg/order"
	"github.com/orderflow/orderflow/pkg/payment"
)

type env struct {
	store *store
	bus   *recorder
	h     *process.Handler
}

func newEnv(o *order.Order, items []inventory.Item, publishErr error) *env {
	var orders []*order.Order
	if o != nil {
		orders = append(orders, o)
	}
	e := &env{store: newStore(orders...), bus: newRecorder(publishErr)}
	e.h = &process.Handler{
		Orders:   e.store,
		Catalog:  catalog(items...),
		Events:   e.bus,
		Payments: payment.Gateway{Limit: 10_000},
		Now:      func() time.Time { return t1 },
		Log:      slog.New(slog.DiscardHandler),
	}
	return e
}

func run(t *testing.T, h *process.Handler, task process.Task) (*order.Order, string, string) {
	t.Helper()
	payload, err := json.Marshal(task)
	if err != nil {
		t.Fatal(err)
	}
	out, errType, msg := invoke(h.Handle, payload)
	if errType != "" {
		return nil, errType, msg
	}
	var o order.Order
	if err := json.Unmarshal(out, &o); err != nil {
		t.Fatalf("output %s: %v", out, err)
	}
	return &o, "", ""
}

func TestHandle(t *testing.T) {
	eur := []inventory.Item{{SKU: "SKU-1", Price: 1250, Currency: "EUR"}, {SKU: "SKU-2", Price: 500, Currency: "USD"}}
	huge := []inventory.Item{{SKU: "SKU-1", Price: 1 << 62, Currency: "USD"}, {SKU: "SKU-2", Price: 500, Currency: "USD"}}
	tests := []struct {
		name       string
		order      *order.Order // stored before the task; nil for none
		items      []inventory.Item
		publishErr error
		task       process.Task
		// wantType is the errorType aws-lambda-go reports; empty for success.
		wantType   string
		wantStatus order.Status // status returned (success) and stored
		wantTotal  int64
		wantReason order.Reason
		wantWrites int
		wantEvent  string // detail-type published, if any
	}{
		{name: "validate prices and validates", order: pending(), items: usdCatalog,
			task:       process.Task{Action: "validate", OrderID: orderID, CorrelationID: "corr-1"},
			wantStatus: order.StatusValidated, wantTotal: 3000, wantWrites: 1},
		{name: "validate retry of a validated order returns it unchanged", order: inStatus(order.StatusValidated, "tok_visa"), items: usdCatalog,
			task:       process.Task{Action: "validate", OrderID: orderID},
			wantStatus: order.StatusValidated, wantTotal: 3000},
		{name: "validate retry of a paid order returns it unchanged", order: inStatus(order.StatusPaid, "tok_visa"), items: usdCatalog,
			task:       process.Task{Action: "validate", OrderID: orderID},
			wantStatus: order.StatusPaid, wantTotal: 3000},
		{name: "validate unknown sku", order: pending(), items: usdCatalog[:1],
			task:     process.Task{Action: "validate", OrderID: orderID},
			wantType: "UnknownSKUError", wantStatus: order.StatusPending},
		{name: "validate currency mismatch", order: pending(), items: eur,
			task:     process.Task{Action: "validate", OrderID: orderID},
			wantType: "InvalidOrderError", wantStatus: order.StatusPending},
		{name: "validate overflowing total", order: pending(), items: huge,
			task:     process.Task{Action: "validate", OrderID: orderID},
			wantType: "InvalidOrderError", wantStatus: order.StatusPending},
		{name: "validate a rejected order is an illegal transition", order: inStatus(order.StatusRejected, "tok_visa"), items: usdCatalog,
			task:     process.Task{Action: "validate", OrderID: orderID},
			wantType: "IllegalTransitionError", wantStatus: order.StatusRejected},
		{name: "authorize pays", order: inStatus(order.StatusValidated, "tok_visa"),
			task:       process.Task{Action: "authorize", OrderID: orderID},
			wantStatus: order.StatusPaid, wantTotal: 3000, wantWrites: 1},
		{name: "authorize declined token leaves the order reserved", order: inStatus(order.StatusValidated, payment.DeclineToken),
			task:     process.Task{Action: "authorize", OrderID: orderID},
			wantType: "PaymentDeclinedError", wantStatus: order.StatusReserved, wantWrites: 1},
		{name: "authorize retry after a decline declines again without a write", order: inStatus(order.StatusReserved, payment.DeclineToken),
			task:     process.Task{Action: "authorize", OrderID: orderID},
			wantType: "PaymentDeclinedError", wantStatus: order.StatusReserved},
		{name: "authorize retry of a reserved order pays", order: inStatus(order.StatusReserved, "tok_visa"),
			task:       process.Task{Action: "authorize", OrderID: orderID},
			wantStatus: order.StatusPaid, wantTotal: 3000, wantWrites: 1},
		{name: "authorize retry of a paid order returns it", order: inStatus(order.StatusPaid, "tok_visa"),
			task:       process.Task{Action: "authorize", OrderID: orderID},
			wantStatus: order.StatusPaid, wantTotal: 3000},
		{name: "authorize a pending order is an illegal transition", order: pending(),
			task:     process.Task{Action: "authorize", OrderID: orderID},
			wantType: "IllegalTransitionError", wantStatus: order.StatusPending},
		{name: "reject publishes Order Rejected", order: pending(),
			task:       process.Task{Action: "reject", OrderID: orderID, Reason: "UNKNOWN_SKU"},
			wantStatus: order.StatusRejected, wantReason: order.ReasonUnknownSKU, wantWrites: 1, wantEvent: event.OrderRejected},
		{name: "reject retry publishes again without a write", order: inStatus(order.StatusRejected, "tok_visa"),
			task:       process.Task{Action: "reject", OrderID: orderID, Reason: "UNKNOWN_SKU"},
			wantStatus: order.StatusRejected, wantReason: order.ReasonUnknownSKU, wantEvent: event.OrderRejected},
		{name: "cancel publishes Order Cancelled", order: inStatus(order.StatusReserved, "tok_visa"),
			task:       process.Task{Action: "cancel", OrderID: orderID, Reason: "PAYMENT_DECLINED"},
			wantStatus: order.StatusCancelled, wantTotal: 3000, wantReason: order.ReasonPaymentDeclined, wantWrites: 1, wantEvent: event.OrderCancelled},
		{name: "cancel retry publishes again", order: inStatus(order.StatusCancelled, "tok_visa"),
			task:       process.Task{Action: "cancel", OrderID: orderID, Reason: "OUT_OF_STOCK"},
			wantStatus: order.StatusCancelled, wantReason: order.ReasonOutOfStock, wantEvent: event.OrderCancelled},
		{name: "cancel a confirmed order is an illegal transition", order: inStatus(order.StatusConfirmed, "tok_visa"),
			task:     process.Task{Action: "cancel", OrderID: orderID, Reason: "PROCESSING_FAILED"},
			wantType: "IllegalTransitionError", wantStatus: order.StatusConfirmed, wantTotal: 3000},
		{name: "reject a reserved order is an illegal transition", order: inStatus(order.StatusReserved, "tok_visa"),
			task:     process.Task{Action: "reject", OrderID: orderID, Reason: "INVALID_ORDER"},
			wantType: "IllegalTransitionError", wantStatus: order.StatusReserved, wantTotal: 3000},
		{name: "cancel with an unknown reason", order: pending(),
			task:     process.Task{Action: "cancel", OrderID: orderID, Reason: "BORED"},
			wantType: "BadTaskError", wantStatus: order.StatusPending},
		{name: "unknown action", order: pending(),
			task:     process.Task{Action: "ship", OrderID: orderID},
			wantType: "BadTaskError", wantStatus: order.StatusPending},
		{name: "missing order id", order: pending(),
			task:     process.Task{Action: "validate"},
			wantType: "BadTaskError", wantStatus: order.StatusPending},
		{name: "cancel whose publication fails is an infrastructure error", order: pending(), publishErr: errDown,
			task:     process.Task{Action: "cancel", OrderID: orderID, Reason: "PROCESSING_FAILED"},
			wantType: "wrapError", wantStatus: order.StatusCancelled, wantReason: order.ReasonProcessingFailed, wantWrites: 1},
		{name: "unknown order is an infrastructure error", items: usdCatalog,
			task:     process.Task{Action: "validate", OrderID: orderID},
			wantType: "wrapError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(tt.order, tt.items, tt.publishErr)
			got, errType, msg := run(t, e.h, tt.task)
			if errType != tt.wantType {
				t.Fatalf("errorType = %q (%s), want %q", errType, msg, tt.wantType)
			}
			if e.store.writes != tt.wantWrites {
				t.Errorf("writes = %d, want %d", e.store.writes, tt.wantWrites)
			}
			if tt.order == nil {
				return
			}
			stored := e.store.orders[orderID]
			if stored.Status != tt.wantStatus {
				t.Errorf("stored status = %s, want %s", stored.Status, tt.wantStatus)
			}
			if tt.wantType == "" {
				if got.Status != tt.wantStatus || got.Total != tt.wantTotal || got.FailureReason != tt.wantReason {
					t.Errorf("returned status %s total %d reason %q, want %s %d %q",
						got.Status, got.Total, got.FailureReason, tt.wantStatus, tt.wantTotal, tt.wantReason)
				}
				if got.Version != stored.Version {
					t.Errorf("returned version %d, stored %d", got.Version, stored.Version)
				}
			}
			switch {
			case tt.wantEvent == "" && len(e.bus.events) > 0:
				t.Errorf("published %d events, want none", len(e.bus.events))
			case tt.wantEvent != "":
				if len(e.bus.events) != 1 {
					t.Fatalf("published %d events, want 1", len(e.bus.events))
				}
				ev := e.bus.events[0]
				if ev.DetailType != tt.wantEvent || ev.Detail.Data.Status != tt.wantStatus ||
					ev.Detail.Metadata.EventID != event.ID(orderID, tt.wantStatus) {
					t.Errorf("event = %s %s %s", ev.DetailType, ev.Detail.Data.Status, ev.Detail.Metadata.EventID)
				}
			}
		})
	}
}

// TestHandleReturnsTypedErrorsUnwrapped checks the Go values, not only the type names:
// the ASL catches on the name, and errors.As must find the domain details.
func TestHandleReturnsTypedErrorsUnwrapped(t *testing.T) {
	tests := []struct {
		name  string
		order *order.Order
		items []inventory.Item
		task  process.Task
		check func(error) bool
	}{
		{"unknown sku names the sku", pending(), usdCatalog[1:], process.Task{Action: "validate", OrderID: orderID},
			func(err error) bool {
				e, ok := err.(*order.UnknownSKUError)
				return ok && fmt.Sprint(e.SKUs) == "[SKU-1]"
			}},
		{"declined", inStatus(order.StatusValidated, payment.DeclineToken), nil, process.Task{Action: "authorize", OrderID: orderID},
			func(err error) bool { _, ok := err.(*payment.PaymentDeclinedError); return ok }},
		{"illegal transition", inStatus(order.StatusConfirmed, "tok_visa"), nil, process.Task{Action: "cancel", OrderID: orderID, Reason: "OUT_OF_STOCK"},
			func(err error) bool {
				e, ok := err.(*order.IllegalTransitionError)
				return ok && e.From == order.StatusConfirmed && e.To == order.StatusCancelled
			}},
		{"bad task", pending(), nil, process.Task{Action: "nope", OrderID: orderID},
			func(err error) bool { e, ok := err.(*process.BadTaskError); return ok && e.Field == "action" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(tt.order, tt.items, nil)
			o, err := e.h.Handle(context.Background(), tt.task)
			if o != nil || !tt.check(err) {
				t.Fatalf("Handle = %v, %T %v", o, err, err)
			}
		})
	}
}

// TestHandleStoreFailure checks an infrastructure failure is reported wrapped with
// context (States.ALL catches it), never as a business error type.
func TestHandleStoreFailure(t *testing.T) {
	e := newEnv(pending(), usdCatalog, nil)
	e.store.update = func(context.Context, string, func(*order.Order) error) (*order.Order, error) {
		return nil, order.ErrConflict
	}
	for _, action := range []string{"validate", "authorize", "cancel"} {
		t.Run(action, func(t *testing.T) {
			_, err := e.h.Handle(context.Background(), process.Task{Action: action, OrderID: orderID, Reason: "PROCESSING_FAILED"})
			if !errors.Is(err, order.ErrConflict) {
				t.Fatalf("err = %v, want ErrConflict", err)
			}
		})
	}
}
