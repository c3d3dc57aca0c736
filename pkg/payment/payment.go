// Package payment is a deterministic simulated payment gateway: the token "tok_decline"
// is declined, and so is any total above the configured limit; everything else is
// authorized. It has no AWS dependency.
package payment

import "fmt"

// DeclineToken is the payment token that is always declined.
const DeclineToken = "tok_decline"

// DefaultLimit is the total (minor units) above which payment is declined: 10,000.00.
const DefaultLimit int64 = 1_000_000

// PaymentDeclinedError is returned when the gateway declines a payment. The state machine
// releases the reservation and cancels the order (PAYMENT_DECLINED) on this error type.
type PaymentDeclinedError struct {
	OrderID string
	Reason  string
}

func (e *PaymentDeclinedError) Error() string {
	return fmt.Sprintf("order %s: payment declined: %s", e.OrderID, e.Reason)
}

// Gateway authorizes payments by the simulation's rules.
type Gateway struct {
	// Limit is the largest total that is authorized; zero means DefaultLimit.
	Limit int64
}

// Authorize returns nil when the payment is authorized and *PaymentDeclinedError when not.
func (g Gateway) Authorize(orderID, token string, total int64) error {
	limit := g.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	switch {
	case token == DeclineToken:
		return &PaymentDeclinedError{OrderID: orderID, Reason: "card declined"}
	case total > limit:
		return &PaymentDeclinedError{OrderID: orderID, Reason: fmt.Sprintf("total %d above limit %d", total, limit)}
	}
	return nil
}
