// Package process is the order-processing state machine's Lambda task handler: it
// validates and prices an order, authorizes its payment, and rejects or cancels it.
//
// Errors the state machine branches on (*order.UnknownSKUError, *order.InvalidOrderError,
// *payment.PaymentDeclinedError, *order.IllegalTransitionError,
// *order.AlreadyProcessingError, *BadTaskError) are returned unwrapped: aws-lambda-go
// reports the Go type name of a returned error as its errorType, which is what the ASL's
// ErrorEquals matches; a wrapped error would be reported as "wrapError". Infrastructure
// failures are returned as *TransientError (wrapping the cause), which the ASL retries.
//
// Every task names the execution that runs it (Task.ExecutionID). validate makes that
// execution the order's owner; every other action refuses a non-owner with
// *order.AlreadyProcessingError, so a duplicate execution for the same order (EventBridge
// delivers at least once) ends without touching the order or the stock.
//
// Tasks only write the order's status, each in one conditional write. They publish
// nothing: Order Confirmed, Cancelled and Rejected come from the orders table's stream
// (pkg/handler/publisher), so a status that was written is always announced, once per
// state change, whatever crashes after the write.
package process

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/orderflow/orderflow/pkg/inventory"
	"github.com/orderflow/orderflow/pkg/logging"
	"github.com/orderflow/orderflow/pkg/order"
	"github.com/orderflow/orderflow/pkg/payment"
)

// Actions a Task may ask for (see docs/CONTRACTS.md, "State machine ↔ process function").
const (
	ActionValidate  = "validate"
	ActionAuthorize = "authorize"
	ActionReject    = "reject"
	ActionCancel    = "cancel"
	// ActionRecover is the state machine's catch-all after the reservation: it returns
	// the order, unchanged, so the state machine decides. A CONFIRMED order (an authorize
	// whose write landed but whose answer was lost, retries exhausted) must not be
	// compensated; any other status is released and cancelled.
	ActionRecover = "recover"
)

// Task is the payload the state machine passes to the function.
type Task struct {
	Action        string `json:"action"`
	OrderID       string `json:"orderId"`
	CorrelationID string `json:"correlationId,omitempty"`
	Reason        string `json:"reason,omitempty"`
	// ExecutionID is the Step Functions execution running the task ($$.Execution.Id).
	// Empty means "unknown": no ownership is claimed or checked.
	ExecutionID string `json:"executionId,omitempty"`
}

// TransientError is an infrastructure failure (a store or the catalog did not answer, an
// optimistic lock was lost too often): the task may succeed when retried, and
// every action is idempotent, so the state machine retries it (ErrorEquals
// "TransientError"). Err is the cause.
type TransientError struct {
	Err error
}

func (e *TransientError) Error() string { return "transient: " + e.Err.Error() }

// Unwrap returns the cause.
func (e *TransientError) Unwrap() error { return e.Err }

// BadTaskError is returned for a task the function cannot run: an unknown action, a
// missing order id or an unknown failure reason. It is a bug in the state machine
// definition, never retried into success.
type BadTaskError struct {
	Field   string
	Message string
}

func (e *BadTaskError) Error() string {
	return fmt.Sprintf("bad task: %s: %s", e.Field, e.Message)
}

// OrderStore reads and changes orders. Update applies fn to the stored order and writes
// it back conditionally on the version read; fn's error is returned unchanged.
type OrderStore interface {
	Get(ctx context.Context, id string) (*order.Order, error)
	Update(ctx context.Context, id string, fn func(*order.Order) error) (*order.Order, error)
}

// Catalog returns the catalog items for SKUs; SKUs it does not know are absent.
type Catalog interface {
	Items(ctx context.Context, skus []string) (map[string]inventory.Item, error)
}

// Authorizer authorizes a payment; payment.Gateway satisfies it. It returns
// *payment.PaymentDeclinedError when the payment is declined.
type Authorizer interface {
	Authorize(orderID, token string, total int64) error
}

// Handler runs process tasks. Orders, Catalog and Payments are required; Now and Log
// default to time.Now and slog.Default. The orderId and correlationId of the task go
// on the context (logging.WithOrder), so a pkg/logging handler puts them on every line.
type Handler struct {
	Orders   OrderStore
	Catalog  Catalog
	Payments Authorizer
	// SoldOutShortCut makes validate return *SoldOutError for a VALIDATED order with a
	// line whose catalog stock is below its quantity (template parameter SoldOutShortCut).
	SoldOutShortCut bool
	Now             func() time.Time
	Log             *slog.Logger
}

// SoldOutError is validate's answer, with SoldOutShortCut, for an order that cannot be
// reserved: the catalog it priced the order from shows SKUs with less stock than the
// order's lines. The order is VALIDATED and owned by the execution, which cancels it
// OUT_OF_STOCK without a reservation. The catalog read is eventually consistent: a
// stale read may cancel an order a reservation would just have served (stock given back
// a moment before), never reserve one it should not.
type SoldOutError struct {
	OrderID string
	SKUs    []string
}

func (e *SoldOutError) Error() string {
	return fmt.Sprintf("order %s: sold out: %s", e.OrderID, strings.Join(e.SKUs, ", "))
}

// errUnchanged makes an Update function leave the order as it is: the step already
// happened (a Step Functions retry), so nothing is written.
var errUnchanged = errors.New("order already in the target state")

// Handle runs one task and returns the order as it is afterwards. It returns
// *BadTaskError (also for an order that does not exist), *order.UnknownSKUError,
// *order.InvalidOrderError, *payment.PaymentDeclinedError, *order.IllegalTransitionError
// or *order.AlreadyProcessingError unwrapped, and *TransientError for infrastructure
// failures (including order.ErrConflict).
func (h *Handler) Handle(ctx context.Context, t Task) (*order.Order, error) {
	if t.OrderID == "" {
		return nil, &BadTaskError{Field: "orderId", Message: "is required"}
	}
	ctx = logging.WithOrder(ctx, t.OrderID, t.CorrelationID)
	var (
		o   *order.Order
		err error
	)
	switch t.Action {
	case ActionValidate:
		o, err = h.validate(ctx, t.OrderID, t.ExecutionID)
	case ActionAuthorize:
		o, err = h.authorize(ctx, t.OrderID, t.ExecutionID)
	case ActionRecover:
		o, err = h.recover(ctx, t.OrderID, t.ExecutionID)
	case ActionReject, ActionCancel:
		reason, perr := order.ParseReason(t.Reason)
		if perr != nil {
			return nil, &BadTaskError{Field: "reason", Message: perr.Error()}
		}
		o, err = h.finish(ctx, t.OrderID, t.ExecutionID, t.Action, reason)
	default:
		return nil, &BadTaskError{Field: "action", Message: fmt.Sprintf("unknown action %q", t.Action)}
	}
	if err != nil {
		err = boundary(err)
		h.logger().WarnContext(ctx, "task failed", "action", t.Action, "error", err.Error())
		return nil, err
	}
	h.logger().InfoContext(ctx, "task done", "action", t.Action, "status", string(o.Status))
	return o, nil
}

// validate prices a PENDING order from the catalog and makes it VALIDATED, owned by
// execution.
func (h *Handler) validate(ctx context.Context, id, execution string) (*order.Order, error) {
	now := h.now()
	var (
		current *order.Order
		items   map[string]inventory.Item // fetched once: an order's lines never change
	)
	// The catalog is read inside the update, after its read of the order: one read of
	// the order per validate, not one to price and another to write.
	o, err := h.Orders.Update(ctx, id, func(o *order.Order) error {
		if err := o.CheckOwner(execution); err != nil {
			return err // another execution validated it
		}
		if pricedOrLater(o.Status) {
			current = o
			return errUnchanged
		}
		if items == nil {
			var err error
			if items, err = h.Catalog.Items(ctx, lineSKUs(o)); err != nil {
				return fmt.Errorf("catalog items for order %s: %w", id, err)
			}
		}
		prices, err := priceLines(o, items)
		if err != nil {
			return err
		}
		if err := o.Claim(execution); err != nil {
			return err
		}
		return o.Price(prices, now)
	})
	o, err = result(o, current, err)
	if err != nil || !h.SoldOutShortCut || o.Status != order.StatusValidated {
		return o, err
	}
	if items == nil { // validated by an earlier try of this task
		if items, err = h.Catalog.Items(ctx, lineSKUs(o)); err != nil {
			return nil, fmt.Errorf("catalog items for order %s: %w", id, err)
		}
	}
	var out []string
	for _, l := range o.Lines {
		if items[l.SKU].Stock < l.Quantity {
			out = append(out, l.SKU)
		}
	}
	if len(out) > 0 {
		return nil, &SoldOutError{OrderID: id, SKUs: out}
	}
	return o, nil
}

// lineSKUs returns the SKUs of o's lines.
func lineSKUs(o *order.Order) []string {
	skus := make([]string, len(o.Lines))
	for i, l := range o.Lines {
		skus[i] = l.SKU
	}
	return skus
}

// priceLines returns the catalog price of each of o's lines, or *order.UnknownSKUError
// naming the SKUs items lacks, or *order.InvalidOrderError for a line priced in another
// currency than the order's.
func priceLines(o *order.Order, items map[string]inventory.Item) (map[string]int64, error) {
	prices := make(map[string]int64, len(o.Lines))
	var (
		missing  []string
		mismatch *order.InvalidOrderError
	)
	for _, l := range o.Lines {
		it, ok := items[l.SKU]
		if !ok {
			missing = append(missing, l.SKU)
			continue
		}
		if it.Currency != o.Currency && mismatch == nil {
			mismatch = &order.InvalidOrderError{OrderID: o.ID,
				Message: fmt.Sprintf("line %s is priced in %s, the order is in %s", l.SKU, it.Currency, o.Currency)}
		}
		prices[l.SKU] = it.Price
	}
	if len(missing) > 0 {
		return nil, &order.UnknownSKUError{OrderID: o.ID, SKUs: missing}
	}
	if mismatch != nil {
		return nil, mismatch
	}
	return prices, nil
}

// authorize moves a VALIDATED order to RESERVED and, when the payment is authorized,
// through PAID to CONFIRMED, in one conditional write. It is the last state of a
// confirmed order's execution: confirming here instead of in a state of its own saves
// state transitions, which the Standard workflow bills one by one.
//
// On a decline the order is stored RESERVED, so the state machine's compensation
// (release stock, cancel) starts from the true state. A retry that finds the order
// CONFIRMED (the write landed, the answer did not) returns it unchanged.
func (h *Handler) authorize(ctx context.Context, id, execution string) (*order.Order, error) {
	now := h.now()
	var (
		current  *order.Order
		declined error
	)
	o, err := h.Orders.Update(ctx, id, func(o *order.Order) error {
		declined = nil // Update may call fn again after a lost optimistic lock
		if err := o.CheckOwner(execution); err != nil {
			return err
		}
		switch o.Status {
		case order.StatusConfirmed:
			current = o
			return errUnchanged
		case order.StatusPaid: // left PAID by an execution of an earlier definition
			return o.Confirm(now)
		case order.StatusReserved: // a retry after a decline or a lost answer
			if err := h.Payments.Authorize(o.ID, o.PaymentToken, o.Total); err != nil {
				return err // already stored RESERVED: nothing to write
			}
			return confirm(o, now)
		}
		if err := o.MarkReserved(now); err != nil {
			return err
		}
		if err := h.Payments.Authorize(o.ID, o.PaymentToken, o.Total); err != nil {
			declined = err
			return nil // store RESERVED
		}
		return confirm(o, now)
	})
	if err == nil && declined != nil {
		return nil, declined
	}
	return result(o, current, err)
}

// confirm moves a RESERVED order whose payment was authorized through PAID to CONFIRMED.
func confirm(o *order.Order, now time.Time) error {
	if err := o.MarkPaid(now); err != nil {
		return err
	}
	return o.Confirm(now)
}

// finish rejects or cancels the order for reason. An order already in that status (a
// retry whose first write landed) is returned unchanged.
func (h *Handler) finish(ctx context.Context, id, execution, action string, reason order.Reason) (*order.Order, error) {
	target := order.StatusCancelled
	if action == ActionReject {
		target = order.StatusRejected
	}
	now := h.now()
	var current *order.Order
	o, err := h.Orders.Update(ctx, id, func(o *order.Order) error {
		if err := o.CheckOwner(execution); err != nil {
			return err
		}
		if o.Status == target {
			current = o
			return errUnchanged
		}
		if target == order.StatusRejected {
			return o.Reject(reason, now)
		}
		return o.Cancel(reason, now)
	})
	return result(o, current, err)
}

// recover returns the order as it is, for the state machine's catch-all to decide
// whether to compensate (never a CONFIRMED order).
func (h *Handler) recover(ctx context.Context, id, execution string) (*order.Order, error) {
	o, err := h.Orders.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("get order %s: %w", id, err)
	}
	if err := o.CheckOwner(execution); err != nil {
		return nil, err
	}
	return o, nil
}

// result interprets an Update outcome: errUnchanged means the order as read is the answer.
func result(o, current *order.Order, err error) (*order.Order, error) {
	switch {
	case errors.Is(err, errUnchanged):
		return current, nil
	case err != nil:
		return nil, fmt.Errorf("update order: %w", err) // typed errors are unwrapped by boundary
	}
	return o, nil
}

// boundary returns the typed error the state machine branches on, unwrapped; a
// *BadTaskError for an order that does not exist (no retry makes it appear); and any
// other failure as a *TransientError, which the state machine retries.
func boundary(err error) error {
	var (
		soldOut   *SoldOutError
		unknown   *order.UnknownSKUError
		invalid   *order.InvalidOrderError
		illegal   *order.IllegalTransitionError
		duplicate *order.AlreadyProcessingError
		declined  *payment.PaymentDeclinedError
		bad       *BadTaskError
		transient *TransientError
	)
	switch {
	case errors.As(err, &duplicate):
		return duplicate
	case errors.As(err, &soldOut):
		return soldOut
	case errors.As(err, &unknown):
		return unknown
	case errors.As(err, &invalid):
		return invalid
	case errors.As(err, &illegal):
		return illegal
	case errors.As(err, &declined):
		return declined
	case errors.As(err, &bad):
		return bad
	case errors.As(err, &transient):
		return transient
	case errors.Is(err, order.ErrNotFound):
		return &BadTaskError{Field: "orderId", Message: err.Error()}
	}
	return &TransientError{Err: err}
}

func pricedOrLater(s order.Status) bool {
	switch s {
	case order.StatusValidated, order.StatusReserved, order.StatusPaid, order.StatusConfirmed:
		return true
	}
	return false
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) logger() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}
