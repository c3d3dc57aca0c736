// Package orderevents is for consumers of the business events orderflow publishes on
// EventBridge: their types, a decoder that checks each event against the JSON Schema it
// was published under, and the key to deduplicate deliveries on.
//
//	import "github.com/orderflow/orderflow/events/orderevents"
//
//	func handle(ctx context.Context, e events.EventBridgeEvent) error {
//		ev, err := orderevents.Decode(e)
//		var unknown *orderevents.UnknownDetailTypeError
//		if errors.As(err, &unknown) {
//			return nil // a newer kind of event: not for this consumer
//		}
//		if err != nil {
//			return err // a schema violation or an unsupported major version: to the DLQ
//		}
//		if seen(ev.DedupeKey()) { // delivery is at least once
//			return nil
//		}
//		...
//	}
//
// It depends on aws-lambda-go's events types and on the schemas in
// github.com/orderflow/orderflow/events/schemas, nothing else of orderflow and no AWS SDK,
// so it stays cheap to import. Its names and types change only with a new major
// schemaVersion.
package orderevents

import (
	"encoding/json"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// DefaultSource is the EventBridge `source` of orderflow's events unless the stack was
// deployed with another EventSource parameter.
const DefaultSource = "myapp.orders"

// DetailType names one kind of event: the EventBridge `detail-type`.
type DetailType string

// The detail-types orderflow publishes, one per order state change it announces.
const (
	OrderCreated   DetailType = "Order Created"
	OrderConfirmed DetailType = "Order Confirmed"
	OrderCancelled DetailType = "Order Cancelled"
	OrderRejected  DetailType = "Order Rejected"
)

// DetailTypes returns every detail-type this package decodes.
func DetailTypes() []DetailType {
	return []DetailType{OrderCreated, OrderConfirmed, OrderCancelled, OrderRejected}
}

// Status is an order's status as published.
type Status string

// The statuses events announce: OrderCreated carries StatusPending, OrderConfirmed
// StatusConfirmed, and so on.
const (
	StatusPending   Status = "PENDING"
	StatusConfirmed Status = "CONFIRMED"
	StatusCancelled Status = "CANCELLED"
	StatusRejected  Status = "REJECTED"
)

// FailureReason says why an order was cancelled or rejected. A newer minor schemaVersion
// may add reasons: handle an unknown one as a generic failure.
type FailureReason string

// The failure reasons of OrderCancelled (out of stock, payment declined, processing
// failed) and OrderRejected (unknown SKU, invalid order).
const (
	ReasonOutOfStock       FailureReason = "OUT_OF_STOCK"
	ReasonPaymentDeclined  FailureReason = "PAYMENT_DECLINED"
	ReasonProcessingFailed FailureReason = "PROCESSING_FAILED"
	ReasonUnknownSKU       FailureReason = "UNKNOWN_SKU"
	ReasonInvalidOrder     FailureReason = "INVALID_ORDER"
)

// Metadata identifies one event: EventID is the same for every delivery and every
// re-publication of the same state change.
type Metadata struct {
	EventID       string    `json:"eventId"`
	SchemaVersion string    `json:"schemaVersion"`
	CorrelationID string    `json:"correlationId"`
	OccurredAt    time.Time `json:"occurredAt"`
}

// Line is one order line. UnitPrice is in minor units and absent (0) on OrderCreated:
// prices come from the catalog after the order is accepted.
type Line struct {
	SKU       string `json:"sku"`
	Quantity  int64  `json:"quantity"`
	UnitPrice int64  `json:"unitPrice,omitempty"`
}

// Order is the order as the event announces it. Money is integer minor units of
// Currency (ISO 4217): Total 2500 in USD is 25.00. FailureReason is set on OrderCancelled
// and OrderRejected only.
type Order struct {
	OrderID       string        `json:"orderId"`
	CustomerID    string        `json:"customerId"`
	Status        Status        `json:"status"`
	Currency      string        `json:"currency"`
	Total         int64         `json:"total"`
	Lines         []Line        `json:"lines"`
	FailureReason FailureReason `json:"failureReason,omitempty"`
	CreatedAt     time.Time     `json:"createdAt"`
	UpdatedAt     time.Time     `json:"updatedAt"`
}

// Detail is an event's `detail`: its metadata and the order.
type Detail struct {
	Metadata Metadata `json:"metadata"`
	Data     Order    `json:"data"`
}

// Event is one decoded event: the EventBridge envelope's fields and the typed detail.
type Event struct {
	// ID is EventBridge's id of this delivery's event; a re-publication of the same
	// state change has another ID but the same DedupeKey.
	ID         string
	DetailType DetailType
	Source     string
	Account    string
	Region     string
	Time       time.Time
	Detail
}

// DedupeKey returns the key to deduplicate deliveries on: metadata.eventId,
// "<orderId>:<STATUS>", one per order state change. EventBridge delivers at least once,
// and orderflow may publish a state change again after a retry; both carry the same key.
func (e Event) DedupeKey() string {
	return e.Metadata.EventID
}

// Decode checks an EventBridge event (events.CloudWatchEvent is the same type) against
// the schema of its detail-type and returns it typed. It returns
// *UnknownDetailTypeError for a detail-type this package does not know,
// *UnsupportedVersionError for a detail of another major schemaVersion, and
// *SchemaError, naming the path of each violation, for a detail its schema rejects.
//
// A detail of the same major but a newer minor schemaVersion is accepted: it may carry
// members and enum values this version of the package does not know (they are additive
// by the contract); they are ignored, everything else is checked.
func Decode(e events.EventBridgeEvent) (Event, error) {
	dt := DetailType(e.DetailType)
	d, err := decodeDetail(dt, e.Detail)
	if err != nil {
		return Event{}, err
	}
	return Event{ID: e.ID, DetailType: dt, Source: e.Source, Account: e.AccountID, Region: e.Region,
		Time: e.Time, Detail: d}, nil
}

// Parse decodes a whole EventBridge event as JSON, as an SQS or Kinesis target receives
// it (the message body, the record's data), and then checks it as Decode does. It returns
// *SchemaError for input that is not an EventBridge event, and Decode's errors.
func Parse(raw []byte) (Event, error) {
	var e events.EventBridgeEvent
	if err := json.Unmarshal(raw, &e); err != nil {
		return Event{}, &SchemaError{Violations: []Violation{{Path: "", Message: "not an EventBridge event: " + err.Error()}}}
	}
	return Decode(e)
}
