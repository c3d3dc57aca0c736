// Package notify is the notify function's handler: for every Order Confirmed, Cancelled or
// Rejected event delivered by EventBridge it publishes one customer notification to the
// order-notifications SNS topic.
//
// EventBridge and Lambda's async invoke both deliver at least once, so a marker is claimed
// before publishing and released again when publishing fails. The marker is keyed on the
// state change, event.ID(orderId, status), which is also the eventId of every event the
// system publishes (the state machine builds Order Confirmed's as <orderId>:CONFIRMED), so
// a re-published event cannot notify twice even if a publisher changed its ids.
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/pkg/event"
	"github.com/orderflow/orderflow/pkg/logging"
	"github.com/orderflow/orderflow/pkg/order"
	"github.com/orderflow/orderflow/pkg/topic"
)

// DefaultMarkerTTL is how long a processed-event marker is kept. It outlives every
// EventBridge and async-invoke retry (24 h and 6 h at most); an archive replay older than
// this notifies again, which is what a replay is for.
const DefaultMarkerTTL = 30 * 24 * time.Hour

// Markers claims processed-event markers. Claim returns true for the first claim of id
// and false when id was claimed before; Unclaim removes a claim so a retry can run.
type Markers interface {
	Claim(ctx context.Context, id string, ttl time.Duration, now time.Time) (bool, error)
	Unclaim(ctx context.Context, id string) error
}

// Publisher publishes one message to the notifications topic and returns its message id.
type Publisher interface {
	Publish(ctx context.Context, m topic.Message) (string, error)
}

// Handler sends customer notifications. Markers and Topic are required; MarkerTTL
// defaults to DefaultMarkerTTL, Now to time.Now and Log to slog.Default.
type Handler struct {
	Markers   Markers
	Topic     Publisher
	MarkerTTL time.Duration
	Now       func() time.Time
	Log       *slog.Logger
}

// Notification is the SNS message body (docs/CONTRACTS.md, "SNS notification").
type Notification struct {
	EventID       string       `json:"eventId"`
	OrderID       string       `json:"orderId"`
	CustomerID    string       `json:"customerId"`
	Status        order.Status `json:"status"`
	FailureReason order.Reason `json:"failureReason,omitempty"`
	Subject       string       `json:"subject"`
	Text          string       `json:"text"`
}

type kind struct {
	eventType string
	status    order.Status
}

// kinds maps each detail-type notify handles to its eventType attribute and the status
// its data must carry.
var kinds = map[string]kind{
	event.OrderConfirmed: {"OrderConfirmed", order.StatusConfirmed},
	event.OrderCancelled: {"OrderCancelled", order.StatusCancelled},
	event.OrderRejected:  {"OrderRejected", order.StatusRejected},
}

// MalformedEventError is an event notify can never handle. Returned to Lambda's async
// invoke, it ends, after the async retries, in the on-failure destination with its text.
type MalformedEventError struct {
	DetailType string
	Reason     string
}

func (e *MalformedEventError) Error() string {
	return fmt.Sprintf("malformed %q event: %s", e.DetailType, e.Reason)
}

// Handle publishes the notification for ev once. It returns *MalformedEventError for an
// event it cannot handle, and a wrapped store or SNS error when the notification could
// not be sent (the marker is released first, so the retry sends it). A duplicate delivery
// returns nil without publishing.
func (h *Handler) Handle(ctx context.Context, ev events.EventBridgeEvent) error {
	d, kind, err := decode(ev)
	if err != nil {
		h.logger().ErrorContext(ctx, "event rejected", "detailType", ev.DetailType, "id", ev.ID, "error", err.Error())
		return err
	}
	ctx = logging.WithOrder(ctx, d.Data.OrderID, d.Metadata.CorrelationID)
	log := h.logger().With("orderId", d.Data.OrderID, "correlationId", d.Metadata.CorrelationID,
		"eventId", d.Metadata.EventID, "detailType", ev.DetailType)

	key := event.ID(d.Data.OrderID, d.Data.Status)
	first, err := h.Markers.Claim(ctx, key, h.ttl(), h.now())
	if err != nil {
		return fmt.Errorf("claim notification marker for order %s: %w", d.Data.OrderID, err)
	}
	if !first {
		log.InfoContext(ctx, "duplicate event: notification already sent")
		return nil
	}

	msg, err := Render(d, kind.eventType)
	if err != nil {
		// Cannot happen for a decoded Detail; release the marker all the same.
		return errors.Join(err, h.unclaim(ctx, key, log))
	}
	id, err := h.Topic.Publish(ctx, msg)
	if err != nil {
		err = fmt.Errorf("publish notification for order %s: %w", d.Data.OrderID, err)
		return errors.Join(err, h.unclaim(ctx, key, log))
	}
	log.InfoContext(ctx, "notification sent", "messageId", id)
	return nil
}

func (h *Handler) unclaim(ctx context.Context, key string, log *slog.Logger) error {
	if err := h.Markers.Unclaim(ctx, key); err != nil {
		// The retry will find the marker and skip: this notification is lost. Say so loudly.
		log.ErrorContext(ctx, "could not release the notification marker; the notification will not be retried",
			"marker", key, "error", err.Error())
		return fmt.Errorf("release notification marker %s: %w", key, err)
	}
	return nil
}

// Decode checks that ev is an order event notify handles and returns its detail. It
// returns *MalformedEventError for another detail-type, a detail that is not the event
// envelope, or one without eventId, orderId or the status its detail-type announces.
func Decode(ev events.EventBridgeEvent) (event.Detail, error) {
	d, _, err := decode(ev)
	return d, err
}

func decode(ev events.EventBridgeEvent) (event.Detail, kind, error) {
	var d event.Detail
	kind, ok := kinds[ev.DetailType]
	if !ok {
		return d, kind, &MalformedEventError{DetailType: ev.DetailType, Reason: "not a detail-type notify handles " +
			"(Order Confirmed, Order Cancelled, Order Rejected)"}
	}
	if len(ev.Detail) == 0 {
		return d, kind, &MalformedEventError{DetailType: ev.DetailType, Reason: "no detail"}
	}
	if err := json.Unmarshal(ev.Detail, &d); err != nil {
		return d, kind, &MalformedEventError{DetailType: ev.DetailType, Reason: "detail is not the event envelope: " + err.Error()}
	}
	var missing []string
	if d.Metadata.EventID == "" {
		missing = append(missing, "metadata.eventId")
	}
	if d.Data.OrderID == "" {
		missing = append(missing, "data.orderId")
	}
	if d.Data.CustomerID == "" {
		missing = append(missing, "data.customerId")
	}
	if len(missing) > 0 {
		return d, kind, &MalformedEventError{DetailType: ev.DetailType, Reason: "missing " + strings.Join(missing, ", ")}
	}
	if d.Data.Status != kind.status {
		return d, kind, &MalformedEventError{DetailType: ev.DetailType,
			Reason: fmt.Sprintf("data.status is %q, want %q", d.Data.Status, kind.status)}
	}
	return d, kind, nil
}

// Render builds the SNS message for d: a short subject, a one-sentence text, the JSON
// Notification as body and the eventType and orderId attributes subscribers filter on.
func Render(d event.Detail, eventType string) (topic.Message, error) {
	subject, text := Text(d)
	body, err := json.Marshal(Notification{
		EventID:       d.Metadata.EventID,
		OrderID:       d.Data.OrderID,
		CustomerID:    d.Data.CustomerID,
		Status:        d.Data.Status,
		FailureReason: d.Data.FailureReason,
		Subject:       subject,
		Text:          text,
	})
	if err != nil {
		return topic.Message{}, fmt.Errorf("encode notification: %w", err)
	}
	return topic.Message{
		Subject:    subject,
		Body:       string(body),
		Attributes: map[string]string{"eventType": eventType, "orderId": d.Data.OrderID},
	}, nil
}

// Text returns the customer-facing subject and text of the notification for d.
func Text(d event.Detail) (subject, text string) {
	id := d.Data.OrderID
	switch d.Data.Status {
	case order.StatusConfirmed:
		var items int64
		for _, l := range d.Data.Lines {
			items += l.Quantity
		}
		noun := "items"
		if items == 1 {
			noun = "item"
		}
		return "Your order is confirmed",
			fmt.Sprintf("Your order %s is confirmed: %d %s, %s.", id, items, noun, Money(d.Data.Total, d.Data.Currency))
	case order.StatusCancelled:
		return "Your order was cancelled",
			fmt.Sprintf("Your order %s was cancelled: %s. You have not been charged.", id, because(d.Data.FailureReason))
	default:
		return "We could not accept your order",
			fmt.Sprintf("Your order %s was not accepted: %s.", id, because(d.Data.FailureReason))
	}
}

func because(r order.Reason) string {
	switch r {
	case order.ReasonOutOfStock:
		return "an item is out of stock"
	case order.ReasonPaymentDeclined:
		return "the payment was declined"
	case order.ReasonUnknownSKU:
		return "it names a product we do not sell"
	case order.ReasonInvalidOrder:
		return "it could not be processed as it is"
	}
	return "we could not process it"
}

// exponents lists the ISO 4217 currencies whose minor unit is not 1/100.
var exponents = map[string]int{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
	"RWF": 0, "UGX": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}

// Money formats an amount in minor units of currency: Money(2500, "USD") is "USD 25.00",
// Money(2500, "JPY") is "JPY 2500", Money(2500, "KWD") is "KWD 2.500".
func Money(minor int64, currency string) string {
	exp, ok := exponents[currency]
	if !ok {
		exp = 2
	}
	sign := ""
	u := uint64(minor)
	if minor < 0 {
		sign, u = "-", uint64(-minor) // two's complement: right for MinInt64 too
	}
	digits := strconv.FormatUint(u, 10)
	if exp > 0 {
		if len(digits) <= exp {
			digits = strings.Repeat("0", exp-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-exp] + "." + digits[len(digits)-exp:]
	}
	return currency + " " + sign + digits
}

func (h *Handler) ttl() time.Duration {
	if h.MarkerTTL > 0 {
		return h.MarkerTTL
	}
	return DefaultMarkerTTL
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
