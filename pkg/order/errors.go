package order

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors returned by order stores.
var (
	// ErrNotFound means no order has the requested id.
	ErrNotFound = errors.New("order not found")
	// ErrAlreadyExists means an order with the same id was stored before.
	ErrAlreadyExists = errors.New("order already exists")
	// ErrConflict means the order changed since it was read (optimistic lock lost).
	ErrConflict = errors.New("order was modified concurrently")
	// ErrCustomerMismatch means a request names a customer other than the one who made
	// it (the customer of the caller's token).
	ErrCustomerMismatch = errors.New("the request names another customer than the caller")
	// ErrBadPageToken means a page token (the nextToken of a list of orders) was not
	// one a store returned.
	ErrBadPageToken = errors.New("invalid page token")
)

// UpdateAttempts is how often a store's Update reads and writes an order before it gives
// up on a lost optimistic lock with ErrConflict.
const UpdateAttempts = 5

// ErrTokenGone means the order's processing (its Step Functions execution) no longer
// waits for a callback task token: the task timed out, the execution ended, or the token
// is not one Step Functions knows. It is permanent: a retry gets the same answer, so a
// consumer should drop the message, not redeliver it. pkg/tasktoken returns it.
var ErrTokenGone = errors.New("task token gone")

// IllegalTransitionError is returned when a status change is not a legal transition.
type IllegalTransitionError struct {
	OrderID  string
	From, To Status
}

func (e *IllegalTransitionError) Error() string {
	return fmt.Sprintf("order %s: illegal transition %s -> %s", e.OrderID, e.From, e.To)
}

// AlreadyProcessingError is returned when an execution other than the order's owner
// asks to change it: a duplicate execution for the same order. The state machine ends
// such an execution without touching the order, the stock or the bus.
type AlreadyProcessingError struct {
	OrderID string
	// Owner is the execution that owns the order; Execution the one that asked.
	Owner, Execution string
}

func (e *AlreadyProcessingError) Error() string {
	return fmt.Sprintf("order %s: already processed by execution %s (caller %s)", e.OrderID, e.Owner, e.Execution)
}

// UnknownSKUError is returned when an order names SKUs that the catalog does not have.
// The state machine rejects the order (reason UNKNOWN_SKU) on this error type.
type UnknownSKUError struct {
	OrderID string
	SKUs    []string
}

func (e *UnknownSKUError) Error() string {
	return fmt.Sprintf("order %s: unknown sku %s", e.OrderID, strings.Join(e.SKUs, ", "))
}

// InvalidOrderError is returned when a stored order cannot be processed as it is (for
// example its total overflows). The state machine rejects the order (INVALID_ORDER).
type InvalidOrderError struct {
	OrderID string
	Message string
}

func (e *InvalidOrderError) Error() string {
	return fmt.Sprintf("order %s: invalid: %s", e.OrderID, e.Message)
}

// FieldIssue names one field of a request and what is wrong with it.
type FieldIssue struct {
	Field string `json:"field"`
	Issue string `json:"issue"`
}

// ValidationError is returned when an order request is malformed or invalid. Fields lists
// every problem found, in request order.
type ValidationError struct {
	Fields []FieldIssue
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Issue
	}
	return "invalid order request: " + strings.Join(parts, "; ")
}

func (e *ValidationError) add(field, issue string) {
	e.Fields = append(e.Fields, FieldIssue{Field: field, Issue: issue})
}
