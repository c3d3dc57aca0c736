// Package notify is the notify function's handler: for every Order Confirmed, Cancelled or
// Rejected event delivered by EventBridge it publishes one customer notification to the
// order-notifications SNS topic.
//
// EventBridge and Lambda's async invoke both deliver at least once, so a marker guards the
// publish. The marker is keyed on the state change, event.ID(orderId, status), which is
// also the eventId of every event the system publishes (the state machine builds Order
// Confirmed's as <orderId>:CONFIRMED), so a re-published event cannot notify twice even
// if a publisher changed its ids.
//
// The marker is a lease, not a flag: a delivery claims it IN_PROGRESS, publishes, and
// marks it DONE. A delivery that finds it DONE skips (a duplicate); one that finds a
// fresh IN_PROGRESS claim (another delivery is publishing right now) returns
// ErrInProgress, so that Lambda's async invoke retries it later, when the marker is either
// DONE or stale; a claim older than Lease belongs to a delivery that died (crash, timeout)
// and is taken over. A failed publish releases the claim at once (Unclaim).
//
// So a notification is never lost, and is sent once in the normal case. It is sent twice
// in one rare case: the publish reached SNS but the delivery died (or lost the answer)
// before marking the marker DONE, and a retry takes the stale lease over. Subscribers
// deduplicate on the notification's eventId (docs/CONTRACTS.md).
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/pkg/event"
	"github.com/orderflow/orderflow/pkg/logging"
	"github.com/orderflow/orderflow/pkg/order"
)

// DefaultMarkerTTL is how long a processed-event marker is kept. It outlives every
// EventBridge and async-invoke retry (24 h and 6 h at most); an archive replay older than
// this notifies again, which is what a replay is for.
const DefaultMarkerTTL = 30 * 24 * time.Hour

// DefaultLease is how long a claim keeps other deliveries of the same state change
// waiting before one may take it over. It must be at least as long as a live delivery
// can still publish, and shorter than the gap to the async retry that should take over a
// dead one:
//   - 10 s is NotifyFunction's Timeout: Lambda has killed a delivery by then, and Handle
//     also stops its publish once the lease has run out, so a live delivery is never
//     taken over (even if the Timeout is raised).
//   - Lambda retries a failed async invoke after about 1 min, then 2 min: the first retry
//     after a crash already finds the lease stale and publishes.
//   - The local stack retries after 5 s, then 10 s (cmd/orderflow/internal/sources.Async):
//     the last retry comes 15 s or more after a crash, past the lease.
const DefaultLease = 10 * time.Second

// ErrInProgress means another delivery of the same state change holds a fresh claim and
// is publishing the notification right now. Handle returns it wrapped so that Lambda's
// async invoke retries the event later: the retry then finds the notification sent, or
// takes over the claim of a delivery that died.
var ErrInProgress = errors.New("notification in progress in another delivery")

// Markers claims processed-event markers as leases (dynamo.MarkerStore,
// memstore.MarkerStore). Claim reports event.Claimed (publish, then Done),
// event.AlreadyDone (skip) or event.InProgress (retry later); Unclaim releases the
// claim made at claimedAt so a retry can publish at once.
type Markers interface {
	Claim(ctx context.Context, id string, lease, ttl time.Duration, now time.Time) (event.ClaimResult, error)
	Done(ctx context.Context, id string) error
	Unclaim(ctx context.Context, id string, claimedAt time.Time) error
}

// Publisher publishes one message to the notifications topic and returns its message id.
type Publisher interface {
	Publish(ctx context.Context, m event.Notification) (string, error)
}

// Handler sends customer notifications. Markers and Topic are required; Lease defaults
// to DefaultLease, MarkerTTL to DefaultMarkerTTL, Now to time.Now and Log to slog.Default.
type Handler struct {
	Markers   Markers
	Topic     Publisher
	Lease     time.Duration
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

// Handle publishes the notification for ev once (at least once if a delivery dies
// between publishing and recording it: see the package doc). It returns
// *MalformedEventError for an event it cannot handle, ErrInProgress (wrapped) while
// another delivery of the same state change is publishing, and a wrapped store or SNS
// error when the notification could not be sent (the claim is released first, so the
// retry sends it). A delivery of a notification already sent returns nil.
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
	lease := h.lease()
	started := time.Now() // real time: the publish's budget; h.now() is the lease's clock
	claimedAt := h.now()
	res, err := h.Markers.Claim(ctx, key, lease, h.ttl(), claimedAt)
	if err != nil {
		return fmt.Errorf("claim notification marker for order %s: %w", d.Data.OrderID, err)
	}
	switch res {
	case event.Claimed:
	case event.AlreadyDone:
		log.InfoContext(ctx, "duplicate event: notification already sent")
		return nil
	case event.InProgress:
		log.WarnContext(ctx, "duplicate event: another delivery is sending this notification; retry later", "marker", key)
		return fmt.Errorf("notify order %s: %w", d.Data.OrderID, ErrInProgress)
	default:
		return fmt.Errorf("claim notification marker for order %s: unexpected result %v", d.Data.OrderID, res)
	}

	msg, err := Render(d, kind.eventType)
	if err != nil {
		// Cannot happen for a decoded Detail; release the marker all the same.
		return errors.Join(err, h.unclaim(ctx, key, claimedAt, log))
	}
	// Once the lease has run out another delivery may take the claim over and publish:
	// do not start (or keep retrying) a publish past it.
	pctx, cancel := context.WithTimeout(ctx, lease-time.Since(started))
	id, err := h.Topic.Publish(pctx, msg)
	cancel()
	if err != nil {
		err = fmt.Errorf("publish notification for order %s: %w", d.Data.OrderID, err)
		return errors.Join(err, h.unclaim(ctx, key, claimedAt, log))
	}
	log.InfoContext(ctx, "notification sent", "messageId", id)
	if err := h.Markers.Done(ctx, key); err != nil {
		// Sent: do not fail the invoke, or its retry would take the stale lease over and
		// send it again. Only a redelivery after the lease would now send a duplicate.
		log.ErrorContext(ctx, "notification sent but its marker is not marked done; a late duplicate delivery would send it again",
			"marker", key, "messageId", id, "error", err.Error())
	}
	return nil
}

func (h *Handler) unclaim(ctx context.Context, key string, claimedAt time.Time, log *slog.Logger) error {
	if err := h.Markers.Unclaim(ctx, key, claimedAt); err != nil {
		// Not lost: the claim stays IN_PROGRESS and a retry takes it over once the lease
		// has run out.
		log.WarnContext(ctx, "could not release the notification marker; a retry takes it over after the lease",
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
func Render(d event.Detail, eventType string) (event.Notification, error) {
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
		return event.Notification{}, fmt.Errorf("encode notification: %w", err)
	}
	return event.Notification{
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

// Money formats an amount in minor units of currency as notifications show it:
// Money(2500, "USD") is "USD 25.00", Money(2500, "JPY") is "JPY 2500" (order.Amount).
func Money(minor int64, currency string) string {
	return currency + " " + order.Amount(minor, currency)
}

func (h *Handler) lease() time.Duration {
	if h.Lease > 0 {
		return h.Lease
	}
	return DefaultLease
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
