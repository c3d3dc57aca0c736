// Package process is the order-processing state machine's Lambda task handler: it
// validates and prices an order, authorizes its payment, and rejects or cancels it.
//
// Errors the state machine branches on (*order.UnknownSKUError, *order.InvalidOrderError,
// *payment.PaymentDeclinedError, *order.IllegalTransitionError, *BadTaskError) are
// returned unwrapped: aws-lambda-go reports the Go type name of a returned error as its
// errorType, which is what the ASL's ErrorEquals matches; a wrapped error would be
// reported as "wrapError". Infrastructure failures are returned wrapped with context and
// land in the ASL's States.ALL catchers.
package process

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/orderflow/orderflow/pkg/event"
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
)

// Task is the payload the state machine passes to the function.
type Task struct {
	Action        string `json:"action"`
	OrderID       string `json:"orderId"`
	CorrelationID string `json:"correlationId,omitempty"`
	Reason        string `json:"reason,omitempty"`
}

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

// Publisher publishes business events on the bus.
type Publisher interface {
	Publish(ctx context.Context, evs ...event.Event) error
}

// Authorizer authorizes a payment; payment.Gateway satisfies it. It returns
// *payment.PaymentDeclinedError when the payment is declined.
type Authorizer interface {
	Authorize(orderID, token string, total int64) error
}

// Handler runs process tasks. Orders, Catalog, Events and Payments are required; Now and
// Log default to time.Now and slog.Default. The orderId and correlationId of the task go
// on the context (logging.WithOrder), so a pkg/logging handler puts them on every line.
type Handler struct {
	Orders   OrderStore
	Catalog  Catalog
	Events   Publisher
	Payments Authorizer
	Now      func() time.Time
	Log      *slog.Logger
}

// errUnchanged makes an Update function leave the order as it is: the step already
// happened (a Step Functions retry), so nothing is written.
var errUnchanged = errors.New("order already in the target state")

// Handle runs one task and returns the order as it is afterwards. It returns
// *BadTaskError, *order.UnknownSKUError, *order.InvalidOrderError,
// *payment.PaymentDeclinedError or *order.IllegalTransitionError unwrapped, and a wrapped
// error for infrastructure failures (including order.ErrNotFound and order.ErrConflict).
func (h *Handler) Handle(ctx context.Context, t Task) (*order.Order, error) {
	if t.OrderID == "" {
		return nil, &BadTaskError{Field: "orderId", Message: "is required"}
	}
	ctx = logging.WithOrder(ctx, t.OrderID, t.CorrelationID)
	log := h.logger().With("action", t.Action)
	var (
		o   *order.Order
		err error
	)
	switch t.Action {
	case ActionValidate:
		o, err = h.validate(ctx, t.OrderID)
	case ActionAuthorize:
		o, err = h.authorize(ctx, t.OrderID)
	case ActionReject, ActionCancel:
		reason, perr := order.ParseReason(t.Reason)
		if perr != nil {
			return nil, &BadTaskError{Field: "reason", Message: perr.Error()}
		}
		o, err = h.finish(ctx, t.OrderID, t.Action, reason)
	default:
		return nil, &BadTaskError{Field: "action", Message: fmt.Sprintf("unknown action %q", t.Action)}
	}
	if err != nil {
		err = boundary(err)
		log.WarnContext(ctx, "task failed", "error", err.Error())
		return nil, err
	}
	log.InfoContext(ctx, "task done", "status", string(o.Status))
	return o, nil
}

// validate prices a PENDING order from the catalog and makes it VALIDATED.
func (h *Handler) validate(ctx context.Context, id string) (*order.Order, error) {
	o, err := h.Orders.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("get order %s: %w", id, err)
	}
	if pricedOrLater(o.Status) {
		return o, nil
	}
	skus := make([]string, len(o.Lines))
	for i, l := range o.Lines {
		skus[i] = l.SKU
	}
	items, err := h.Catalog.Items(ctx, skus)
	if err != nil {
		return nil, fmt.Errorf("catalog items for order %s: %w", id, err)
	}
	prices := make(map[string]int64, len(items))
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
			mismatch = &order.InvalidOrderError{OrderID: id,
				Message: fmt.Sprintf("line %s is priced in %s, the order is in %s", l.SKU, it.Currency, o.Currency)}
		}
		prices[l.SKU] = it.Price
	}
	if len(missing) > 0 {
		return nil, &order.UnknownSKUError{OrderID: id, SKUs: missing}
	}
	if mismatch != nil {
		return nil, mismatch
	}
	now := h.now()
	var current *order.Order
	o, err = h.Orders.Update(ctx, id, func(o *order.Order) error {
		if pricedOrLater(o.Status) {
			current = o
			return errUnchanged
		}
		return o.Price(prices, now)
	})
	return result(o, current, err)
}

// authorize moves a VALIDATED order to RESERVED and, when the payment is authorized, to
// PAID, in one conditional write. On a decline the order is stored RESERVED, so the
// state machine's compensation (release stock, cancel) starts from the true state.
func (h *Handler) authorize(ctx context.Context, id string) (*order.Order, error) {
	now := h.now()
	var (
		current  *order.Order
		declined error
	)
	o, err := h.Orders.Update(ctx, id, func(o *order.Order) error {
		declined = nil // Update may call fn again after a lost optimistic lock
		switch o.Status {
		case order.StatusPaid, order.StatusConfirmed:
			current = o
			return errUnchanged
		case order.StatusReserved: // a retry after a decline or a lost answer
			if err := h.Payments.Authorize(o.ID, o.PaymentToken, o.Total); err != nil {
				return err // already stored RESERVED: nothing to write
			}
			return o.MarkPaid(now)
		}
		if err := o.MarkReserved(now); err != nil {
			return err
		}
		if err := h.Payments.Authorize(o.ID, o.PaymentToken, o.Total); err != nil {
			declined = err
			return nil // store RESERVED
		}
		return o.MarkPaid(now)
	})
	if err == nil && declined != nil {
		return nil, declined
	}
	return result(o, current, err)
}

// finish rejects or cancels the order for reason and publishes the matching event. An
// order already in that status is published again: the event id is derived from the
// order id and status, so consumers drop the duplicate.
func (h *Handler) finish(ctx context.Context, id, action string, reason order.Reason) (*order.Order, error) {
	target := order.StatusCancelled
	if action == ActionReject {
		target = order.StatusRejected
	}
	now := h.now()
	var current *order.Order
	o, err := h.Orders.Update(ctx, id, func(o *order.Order) error {
		if o.Status == target {
			current = o
			return errUnchanged
		}
		if target == order.StatusRejected {
			return o.Reject(reason, now)
		}
		return o.Cancel(reason, now)
	})
	o, err = result(o, current, err)
	if err != nil {
		return nil, err
	}
	ev, ok := event.FromOrder(o, now)
	if !ok {
		return nil, fmt.Errorf("order %s: no event for status %s", id, o.Status)
	}
	if err := h.Events.Publish(ctx, ev); err != nil {
		return nil, fmt.Errorf("publish %s for order %s: %w", ev.DetailType, id, err)
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

// boundary returns the typed error the state machine branches on, unwrapped, or err.
func boundary(err error) error {
	var (
		unknown  *order.UnknownSKUError
		invalid  *order.InvalidOrderError
		illegal  *order.IllegalTransitionError
		declined *payment.PaymentDeclinedError
		bad      *BadTaskError
	)
	switch {
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
	}
	return err
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
