package process_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/orderflow/orderflow/pkg/handler/process"
	"github.com/orderflow/orderflow/pkg/inventory"
	"github.com/orderflow/orderflow/pkg/order"
	"github.com/orderflow/orderflow/pkg/payment"
)

type env struct {
	store *store
	h     *process.Handler
}

func newEnv(o *order.Order, items []inventory.Item) *env {
	var orders []*order.Order
	if o != nil {
		orders = append(orders, o)
	}
	e := &env{store: newStore(orders...)}
	e.h = &process.Handler{
		Orders:   e.store,
		Catalog:  catalog(items...),
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
		name  string
		order *order.Order // stored before the task; nil for none
		items []inventory.Item
		task  process.Task
		// wantType is the errorType aws-lambda-go reports; empty for success.
		wantType   string
		wantStatus order.Status // status returned (success) and stored
		wantTotal  int64
		wantReason order.Reason
		wantWrites int
		wantOwner  string // stored ExecutionID
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
		{name: "authorize pays and confirms in one write", order: inStatus(order.StatusValidated, "tok_visa"),
			task:       process.Task{Action: "authorize", OrderID: orderID},
			wantStatus: order.StatusConfirmed, wantTotal: 3000, wantWrites: 1},
		{name: "authorize declined token leaves the order reserved", order: inStatus(order.StatusValidated, payment.DeclineToken),
			task:     process.Task{Action: "authorize", OrderID: orderID},
			wantType: "PaymentDeclinedError", wantStatus: order.StatusReserved, wantWrites: 1},
		{name: "authorize retry after a decline declines again without a write", order: inStatus(order.StatusReserved, payment.DeclineToken),
			task:     process.Task{Action: "authorize", OrderID: orderID},
			wantType: "PaymentDeclinedError", wantStatus: order.StatusReserved},
		{name: "authorize retry of a reserved order pays and confirms", order: inStatus(order.StatusReserved, "tok_visa"),
			task:       process.Task{Action: "authorize", OrderID: orderID},
			wantStatus: order.StatusConfirmed, wantTotal: 3000, wantWrites: 1},
		{name: "authorize of an order an earlier definition left paid confirms it", order: inStatus(order.StatusPaid, "tok_visa"),
			task:       process.Task{Action: "authorize", OrderID: orderID},
			wantStatus: order.StatusConfirmed, wantTotal: 3000, wantWrites: 1},
		{name: "authorize retry of a confirmed order returns it without a write", order: inStatus(order.StatusConfirmed, "tok_visa"),
			task:       process.Task{Action: "authorize", OrderID: orderID},
			wantStatus: order.StatusConfirmed, wantTotal: 3000},
		{name: "authorize a pending order is an illegal transition", order: pending(),
			task:     process.Task{Action: "authorize", OrderID: orderID},
			wantType: "IllegalTransitionError", wantStatus: order.StatusPending},
		{name: "reject rejects in one write", order: pending(),
			task:       process.Task{Action: "reject", OrderID: orderID, Reason: "UNKNOWN_SKU"},
			wantStatus: order.StatusRejected, wantReason: order.ReasonUnknownSKU, wantWrites: 1},
		{name: "reject retry returns the order without a write", order: inStatus(order.StatusRejected, "tok_visa"),
			task:       process.Task{Action: "reject", OrderID: orderID, Reason: "UNKNOWN_SKU"},
			wantStatus: order.StatusRejected, wantReason: order.ReasonUnknownSKU},
		{name: "cancel cancels in one write", order: inStatus(order.StatusReserved, "tok_visa"),
			task:       process.Task{Action: "cancel", OrderID: orderID, Reason: "PAYMENT_DECLINED"},
			wantStatus: order.StatusCancelled, wantTotal: 3000, wantReason: order.ReasonPaymentDeclined, wantWrites: 1},
		{name: "cancel retry returns the order without a write", order: inStatus(order.StatusCancelled, "tok_visa"),
			task:       process.Task{Action: "cancel", OrderID: orderID, Reason: "OUT_OF_STOCK"},
			wantStatus: order.StatusCancelled, wantReason: order.ReasonOutOfStock},
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
		{name: "unknown order is a bad task, not retried", items: usdCatalog,
			task:     process.Task{Action: "validate", OrderID: orderID},
			wantType: "BadTaskError"},

		// Ownership: the execution that validates an order owns it.
		{name: "validate claims the order for its execution", order: pending(), items: usdCatalog,
			task:       process.Task{Action: "validate", OrderID: orderID, ExecutionID: execA},
			wantStatus: order.StatusValidated, wantTotal: 3000, wantWrites: 1, wantOwner: execA},
		{name: "validate retry by the owner returns it unchanged", order: owned(order.StatusValidated, execA), items: usdCatalog,
			task:       process.Task{Action: "validate", OrderID: orderID, ExecutionID: execA},
			wantStatus: order.StatusValidated, wantTotal: 3000, wantOwner: execA},
		{name: "validate by a duplicate execution is refused", order: owned(order.StatusValidated, execA), items: usdCatalog,
			task:     process.Task{Action: "validate", OrderID: orderID, ExecutionID: execB},
			wantType: "AlreadyProcessingError", wantStatus: order.StatusValidated, wantOwner: execA},
		{name: "validate by a duplicate execution of a confirmed order is refused", order: owned(order.StatusConfirmed, execA), items: usdCatalog,
			task:     process.Task{Action: "validate", OrderID: orderID, ExecutionID: execB},
			wantType: "AlreadyProcessingError", wantStatus: order.StatusConfirmed, wantOwner: execA},
		{name: "authorize by the owner confirms", order: owned(order.StatusValidated, execA),
			task:       process.Task{Action: "authorize", OrderID: orderID, ExecutionID: execA},
			wantStatus: order.StatusConfirmed, wantTotal: 3000, wantWrites: 1, wantOwner: execA},
		{name: "authorize by a duplicate execution is refused", order: owned(order.StatusValidated, execA),
			task:     process.Task{Action: "authorize", OrderID: orderID, ExecutionID: execB},
			wantType: "AlreadyProcessingError", wantStatus: order.StatusValidated, wantOwner: execA},
		{name: "cancel by a duplicate execution is refused", order: owned(order.StatusPaid, execA),
			task:     process.Task{Action: "cancel", OrderID: orderID, Reason: "PROCESSING_FAILED", ExecutionID: execB},
			wantType: "AlreadyProcessingError", wantStatus: order.StatusPaid, wantOwner: execA},
		{name: "reject of an unowned order by any execution", order: pending(),
			task:       process.Task{Action: "reject", OrderID: orderID, Reason: "UNKNOWN_SKU", ExecutionID: execB},
			wantStatus: order.StatusRejected, wantReason: order.ReasonUnknownSKU, wantWrites: 1},

		// recover reads, never writes: the state machine decides on the status.
		{name: "recover a confirmed order returns it, not to be compensated", order: owned(order.StatusConfirmed, execA),
			task:       process.Task{Action: "recover", OrderID: orderID, ExecutionID: execA},
			wantStatus: order.StatusConfirmed, wantTotal: 3000, wantOwner: execA},
		{name: "recover a paid order returns it for compensation", order: owned(order.StatusPaid, execA),
			task:       process.Task{Action: "recover", OrderID: orderID, ExecutionID: execA},
			wantStatus: order.StatusPaid, wantTotal: 3000, wantOwner: execA},
		{name: "recover a validated order returns it for compensation", order: owned(order.StatusValidated, execA),
			task:       process.Task{Action: "recover", OrderID: orderID, ExecutionID: execA},
			wantStatus: order.StatusValidated, wantTotal: 3000, wantOwner: execA},
		{name: "recover by a duplicate execution is refused", order: owned(order.StatusConfirmed, execA),
			task:     process.Task{Action: "recover", OrderID: orderID, ExecutionID: execB},
			wantType: "AlreadyProcessingError", wantStatus: order.StatusConfirmed, wantOwner: execA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(tt.order, tt.items)
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
			if stored.ExecutionID != tt.wantOwner {
				t.Errorf("stored owner = %q, want %q", stored.ExecutionID, tt.wantOwner)
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
		{"duplicate execution names the owner", owned(order.StatusValidated, execA), nil,
			process.Task{Action: "authorize", OrderID: orderID, ExecutionID: execB},
			func(err error) bool {
				e, ok := err.(*order.AlreadyProcessingError)
				return ok && e.Owner == execA && e.Execution == execB && e.OrderID == orderID
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(tt.order, tt.items)
			o, err := e.h.Handle(context.Background(), tt.task)
			if o != nil || !tt.check(err) {
				t.Fatalf("Handle = %v, %T %v", o, err, err)
			}
		})
	}
}

// TestHandleStoreFailure checks an infrastructure failure is returned as an unwrapped
// *process.TransientError (errorType "TransientError", which the ASL retries) that still
// wraps its cause, never as a business error type.
func TestHandleStoreFailure(t *testing.T) {
	tests := []struct {
		action string
		fail   string // the store method that fails
	}{
		{"validate", "update"}, {"authorize", "update"}, {"cancel", "update"}, {"reject", "update"},
		{"recover", "get"},
	}
	for _, tt := range tests {
		t.Run(tt.action+" "+tt.fail, func(t *testing.T) {
			e := newEnv(pending(), usdCatalog)
			cause := fmt.Errorf("update order %s: %w", orderID, order.ErrConflict)
			switch tt.fail {
			case "update":
				e.store.update = func(context.Context, string, func(*order.Order) error) (*order.Order, error) { return nil, cause }
			case "get":
				e.store.get = func(context.Context, string) (*order.Order, error) { return nil, errDown }
			}
			task := process.Task{Action: tt.action, OrderID: orderID, Reason: "UNKNOWN_SKU", ExecutionID: execA}
			_, err := e.h.Handle(context.Background(), task)
			te, ok := err.(*process.TransientError)
			if !ok {
				t.Fatalf("err = %T %v, want *process.TransientError", err, err)
			}
			if want := map[string]error{"update": order.ErrConflict, "get": errDown}[tt.fail]; !errors.Is(te, want) {
				t.Errorf("err = %v, want it to wrap %v", err, want)
			}
			payload, _ := json.Marshal(task)
			if _, errType, _ := invoke(e.h.Handle, payload); errType != "TransientError" {
				t.Errorf("errorType = %q, want TransientError", errType)
			}
		})
	}
}

// TestValidateLosesTheClaimRace checks that a duplicate execution whose validate read
// the order unowned, but found it claimed by the owner when writing, is refused and
// writes nothing.
func TestValidateLosesTheClaimRace(t *testing.T) {
	e := newEnv(pending(), usdCatalog)
	update := e.store.update
	e.store.update = func(ctx context.Context, id string, fn func(*order.Order) error) (*order.Order, error) {
		e.store.orders[id].ExecutionID = execA // the owner's validate won meanwhile
		return update(ctx, id, fn)
	}
	_, err := e.h.Handle(context.Background(), process.Task{Action: "validate", OrderID: orderID, ExecutionID: execB})
	if _, ok := err.(*order.AlreadyProcessingError); !ok {
		t.Fatalf("err = %T %v, want *order.AlreadyProcessingError", err, err)
	}
	if got := e.store.orders[orderID]; got.Status != order.StatusPending || e.store.writes != 0 {
		t.Errorf("stored %s after %d writes, want PENDING and none", got.Status, e.store.writes)
	}
}
