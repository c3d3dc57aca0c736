// Package event defines the business events orderflow publishes on EventBridge: their
// detail-types and the detail envelope (metadata + data). It has no AWS dependency.
package event

import (
	"time"

	"github.com/orderflow/orderflow/pkg/order"
)

// DefaultSource is the EventBridge source of every event unless configured otherwise.
const DefaultSource = "myapp.orders"

// SchemaVersion is the version of the detail schemas in events/schemas/.
const SchemaVersion = "1.0"

// Detail types of the business events.
const (
	OrderCreated   = "Order Created"
	OrderConfirmed = "Order Confirmed"
	OrderCancelled = "Order Cancelled"
	OrderRejected  = "Order Rejected"
)

// DetailTypes lists every detail-type the system publishes.
var DetailTypes = []string{OrderCreated, OrderConfirmed, OrderCancelled, OrderRejected}

// Metadata identifies one event occurrence. EventID is what consumers deduplicate on.
type Metadata struct {
	EventID       string    `json:"eventId"`
	SchemaVersion string    `json:"schemaVersion"`
	CorrelationID string    `json:"correlationId"`
	OccurredAt    time.Time `json:"occurredAt"`
}

// Line is an order line as published.
type Line struct {
	SKU       string `json:"sku"`
	Quantity  int64  `json:"quantity"`
	UnitPrice int64  `json:"unitPrice,omitempty"`
}

// Data is the order as published: no payment token, no internal version.
type Data struct {
	OrderID       string       `json:"orderId"`
	CustomerID    string       `json:"customerId"`
	Status        order.Status `json:"status"`
	Currency      string       `json:"currency"`
	Total         int64        `json:"total"`
	Lines         []Line       `json:"lines"`
	FailureReason order.Reason `json:"failureReason,omitempty"`
	CreatedAt     time.Time    `json:"createdAt"`
	UpdatedAt     time.Time    `json:"updatedAt"`
}

// Detail is the `detail` of every business event.
type Detail struct {
	Metadata Metadata `json:"metadata"`
	Data     Data     `json:"data"`
}

// Event is one business event ready to publish: its detail-type and detail.
type Event struct {
	DetailType string
	Detail     Detail
}

// ForStatus returns the detail-type announcing that an order reached status s, and false
// for a status that is not announced.
func ForStatus(s order.Status) (string, bool) {
	switch s {
	case order.StatusPending:
		return OrderCreated, true
	case order.StatusConfirmed:
		return OrderConfirmed, true
	case order.StatusCancelled:
		return OrderCancelled, true
	case order.StatusRejected:
		return OrderRejected, true
	}
	return "", false
}

// FromOrder returns the event announcing o's current status. Its event id is derived from
// the order id and the status (see ID), so a re-publication after a retry carries the
// same id and consumers deduplicate it. It returns false when o's status is not announced.
func FromOrder(o *order.Order, now time.Time) (Event, bool) {
	dt, ok := ForStatus(o.Status)
	if !ok {
		return Event{}, false
	}
	lines := make([]Line, len(o.Lines))
	for i, l := range o.Lines {
		lines[i] = Line{SKU: l.SKU, Quantity: l.Quantity, UnitPrice: l.UnitPrice}
	}
	correlation := o.CorrelationID
	if correlation == "" {
		correlation = o.ID
	}
	return Event{
		DetailType: dt,
		Detail: Detail{
			Metadata: Metadata{
				EventID:       ID(o.ID, o.Status),
				SchemaVersion: SchemaVersion,
				CorrelationID: correlation,
				OccurredAt:    now.UTC(),
			},
			Data: Data{
				OrderID:       o.ID,
				CustomerID:    o.CustomerID,
				Status:        o.Status,
				Currency:      o.Currency,
				Total:         o.Total,
				Lines:         lines,
				FailureReason: o.FailureReason,
				CreatedAt:     o.CreatedAt,
				UpdatedAt:     o.UpdatedAt,
			},
		},
	}, true
}

// ID returns the event id announcing that order orderID reached status s:
// "<orderId>:<STATUS>". Every publication of the same state change carries the same id,
// whoever publishes it: the process function here, or the state machine, which builds
// the Order Confirmed id with States.Format('{}:CONFIRMED', orderId).
func ID(orderID string, s order.Status) string {
	return orderID + ":" + string(s)
}
