// Package order is the order domain: the Order aggregate, its legal status transitions and
// the validation of an incoming order request. It has no AWS or Lambda dependency.
package order

import (
	"fmt"
	"math"
	"time"
)

// Status is where an order is in its lifecycle.
type Status string

// The statuses an order moves through. CONFIRMED, REJECTED and CANCELLED are terminal.
const (
	StatusPending   Status = "PENDING"
	StatusValidated Status = "VALIDATED"
	StatusReserved  Status = "RESERVED"
	StatusPaid      Status = "PAID"
	StatusConfirmed Status = "CONFIRMED"
	StatusRejected  Status = "REJECTED"
	StatusCancelled Status = "CANCELLED"
)

// TerminalStatuses are the statuses no transition leaves.
func TerminalStatuses() []Status { return []Status{StatusConfirmed, StatusRejected, StatusCancelled} }

// Terminal reports whether no transition leaves s.
func (s Status) Terminal() bool {
	return s == StatusConfirmed || s == StatusRejected || s == StatusCancelled
}

// Reason explains why an order was rejected or cancelled.
type Reason string

// Failure reasons. UNKNOWN_SKU and INVALID_ORDER reject an order; the others cancel it.
const (
	ReasonUnknownSKU       Reason = "UNKNOWN_SKU"
	ReasonInvalidOrder     Reason = "INVALID_ORDER"
	ReasonOutOfStock       Reason = "OUT_OF_STOCK"
	ReasonPaymentDeclined  Reason = "PAYMENT_DECLINED"
	ReasonProcessingFailed Reason = "PROCESSING_FAILED"
)

// ParseReason returns the Reason named by s, or an error for an unknown one.
func ParseReason(s string) (Reason, error) {
	switch r := Reason(s); r {
	case ReasonUnknownSKU, ReasonInvalidOrder, ReasonOutOfStock, ReasonPaymentDeclined, ReasonProcessingFailed:
		return r, nil
	}
	return "", fmt.Errorf("unknown failure reason %q", s)
}

// transitions lists, for each status, the statuses it may move to.
var transitions = map[Status][]Status{
	StatusPending:   {StatusValidated, StatusRejected, StatusCancelled},
	StatusValidated: {StatusReserved, StatusRejected, StatusCancelled},
	StatusReserved:  {StatusPaid, StatusCancelled},
	StatusPaid:      {StatusConfirmed, StatusCancelled},
}

// CanTransition reports whether an order in status from may move to status to.
func CanTransition(from, to Status) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Line is one product line of an order. UnitPrice is in minor units and is set from the
// catalog during validation, never from the client.
type Line struct {
	SKU       string `json:"sku"`
	Quantity  int64  `json:"quantity"`
	UnitPrice int64  `json:"unitPrice,omitempty"`
}

// Order is the order aggregate. Money is integer minor units of Currency.
// Fields change only through the methods below, which enforce the legal transitions.
type Order struct {
	ID            string `json:"orderId"`
	CustomerID    string `json:"customerId"`
	Lines         []Line `json:"lines"`
	Currency      string `json:"currency"`
	Total         int64  `json:"total"`
	Status        Status `json:"status"`
	FailureReason Reason `json:"failureReason,omitempty"`
	CorrelationID string `json:"correlationId,omitempty"`
	// PaymentToken is the client's payment token. It is stored for the payment step but
	// never serialised to JSON, so it appears in no response, event or log line.
	PaymentToken string `json:"-"`
	// ExecutionID is the state-machine execution that owns the order: set when the
	// order is validated (Claim), checked by every later step (CheckOwner), so a second
	// execution for the same order (EventBridge delivers at least once) changes nothing.
	// Internal bookkeeping: in no response, event or schema.
	ExecutionID string `json:"-"`
	// IdempotencyKey is the Idempotency-Key of the request that created the order, empty
	// when it had none: stored with the order so that an audit can prove that one key
	// created at most one order. Internal bookkeeping: in no response, event or schema.
	IdempotencyKey string    `json:"-"`
	CreatedAt      time.Time `json:"createdAt"`
	UpdatedAt      time.Time `json:"updatedAt"`
	Version        int64     `json:"version"`
}

// New returns a PENDING order for a validated request. It returns a *ValidationError when
// the request is not valid.
func New(id string, req Request, correlationID string, now time.Time) (*Order, error) {
	req, err := req.Normalize()
	if err != nil {
		return nil, err
	}
	now = now.UTC()
	return &Order{
		ID:            id,
		CustomerID:    req.CustomerID,
		Lines:         req.Lines,
		Currency:      req.Currency,
		Status:        StatusPending,
		CorrelationID: correlationID,
		PaymentToken:  req.PaymentToken,
		CreatedAt:     now,
		UpdatedAt:     now,
		Version:       1,
	}, nil
}

// Claim makes execution the owner of the order, or confirms it already is. It returns
// *AlreadyProcessingError when another execution owns the order. An empty execution
// claims nothing (a caller that does not name its execution, such as an old task).
func (o *Order) Claim(execution string) error {
	if err := o.CheckOwner(execution); err != nil {
		return err
	}
	if execution != "" {
		o.ExecutionID = execution
	}
	return nil
}

// CheckOwner returns *AlreadyProcessingError when the order is owned by an execution
// other than execution; an unowned order or an empty execution passes.
func (o *Order) CheckOwner(execution string) error {
	if execution == "" || o.ExecutionID == "" || o.ExecutionID == execution {
		return nil
	}
	return &AlreadyProcessingError{OrderID: o.ID, Owner: o.ExecutionID, Execution: execution}
}

// transition moves o to status to, or returns an *IllegalTransitionError.
func (o *Order) transition(to Status, now time.Time) error {
	if !CanTransition(o.Status, to) {
		return &IllegalTransitionError{OrderID: o.ID, From: o.Status, To: to}
	}
	o.Status = to
	o.UpdatedAt = now.UTC()
	o.Version++
	return nil
}

// Price sets every line's unit price from prices (SKU → minor units), computes the total
// and moves the order to VALIDATED. It returns *UnknownSKUError for a SKU with no price,
// *InvalidOrderError when the total overflows, or *IllegalTransitionError.
func (o *Order) Price(prices map[string]int64, now time.Time) error {
	if o.Status != StatusPending {
		return &IllegalTransitionError{OrderID: o.ID, From: o.Status, To: StatusValidated}
	}
	var missing []string
	for _, l := range o.Lines {
		if _, ok := prices[l.SKU]; !ok {
			missing = append(missing, l.SKU)
		}
	}
	if len(missing) > 0 {
		return &UnknownSKUError{OrderID: o.ID, SKUs: missing}
	}
	lines := make([]Line, len(o.Lines))
	var total int64
	for i, l := range o.Lines {
		l.UnitPrice = prices[l.SKU]
		sub, ok := mulInt64(l.UnitPrice, l.Quantity)
		if !ok || l.UnitPrice < 0 {
			return &InvalidOrderError{OrderID: o.ID, Message: fmt.Sprintf("line %s: amount overflows", l.SKU)}
		}
		if total, ok = addInt64(total, sub); !ok {
			return &InvalidOrderError{OrderID: o.ID, Message: "order total overflows"}
		}
		lines[i] = l
	}
	if err := o.transition(StatusValidated, now); err != nil {
		return err
	}
	o.Lines, o.Total = lines, total
	return nil
}

// MarkReserved records that stock for every line is reserved.
// It returns *IllegalTransitionError unless the order is VALIDATED.
func (o *Order) MarkReserved(now time.Time) error { return o.transition(StatusReserved, now) }

// MarkPaid records an authorized payment. It returns *IllegalTransitionError unless the
// order is RESERVED.
func (o *Order) MarkPaid(now time.Time) error { return o.transition(StatusPaid, now) }

// Confirm makes a paid order CONFIRMED. It returns *IllegalTransitionError unless the
// order is PAID.
func (o *Order) Confirm(now time.Time) error { return o.transition(StatusConfirmed, now) }

// Reject makes the order REJECTED for reason. It returns *IllegalTransitionError when the
// order cannot be rejected from its status (already reserved or terminal).
func (o *Order) Reject(reason Reason, now time.Time) error {
	if err := o.transition(StatusRejected, now); err != nil {
		return err
	}
	o.FailureReason = reason
	return nil
}

// Cancel makes the order CANCELLED for reason. It returns *IllegalTransitionError when
// the order is already terminal.
func (o *Order) Cancel(reason Reason, now time.Time) error {
	if err := o.transition(StatusCancelled, now); err != nil {
		return err
	}
	o.FailureReason = reason
	return nil
}

func mulInt64(a, b int64) (int64, bool) {
	if a == 0 || b == 0 {
		return 0, true
	}
	c := a * b
	if c/b != a || (a == -1 && b == math.MinInt64) || (b == -1 && a == math.MinInt64) {
		return 0, false
	}
	return c, true
}

func addInt64(a, b int64) (int64, bool) {
	c := a + b
	if (b > 0 && c < a) || (b < 0 && c > a) {
		return 0, false
	}
	return c, true
}
