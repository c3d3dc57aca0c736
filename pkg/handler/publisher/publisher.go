// Package publisher is the handler of the orders table's stream: it publishes every
// business event of orderflow, and only from committed state. Order Created comes from
// the INSERT of an order; Order Confirmed, Cancelled and Rejected from the MODIFY that
// moves an order into that status. A change into any other status (VALIDATED, RESERVED,
// PAID) and a change that keeps the status publish nothing. No other function publishes
// business events, so no handler writes state and then publishes in a second call: a
// crash anywhere loses no event and an event never announces a change that was not
// written.
//
// The event of a change is a pure function of the record (Announce): its eventId is
// event.ID(orderId, status) and its occurredAt the order's updatedAt, so a record
// delivered twice (a retried batch, a crash after PutEvents) publishes the same event
// again, which consumers drop by eventId.
//
// A stream shard is processed in order and the partial batch response is a checkpoint:
// reporting a SequenceNumber makes Lambda retry the batch from that record. So the
// handler publishes the events of the records before the first one it cannot handle, and
// reports the first record it could not handle or whose event PutEvents did not take. A
// record whose image cannot be read as an order (a poison record) is reported like any
// other failure; with BisectBatchOnFunctionError and bounded retries on the mapping it
// ends, alone, in the on-failure destination, and the log line says why.
package publisher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/pkg/event"
	"github.com/orderflow/orderflow/pkg/metrics"
	"github.com/orderflow/orderflow/pkg/order"
)

// Publisher puts business events on the bus; *bus.Publisher satisfies it. An error that
// has a NotPublished method (*bus.PublishError) names the events that were not published.
type Publisher interface {
	Publish(ctx context.Context, evs ...event.Event) error
}

// notPublished is an error that names, by eventId, the events that were not published.
type notPublished interface {
	error
	NotPublished() []string
}

// Decoder reads an order from an image of the orders table's stream; the table's layout
// is pkg/dynamo's, so streamimage.Order is the one to use. It returns an error naming
// what it could not read.
type Decoder func(img map[string]events.DynamoDBAttributeValue) (*order.Order, error)

// Recorder collects CloudWatch metrics (EMF); *metrics.Recorder satisfies it.
type Recorder interface {
	Put(name string, value float64, unit metrics.Unit)
	Flush() error
}

// Metrics the handler records per batch (EMF): the events it published, and the records
// it handed back to be retried (from the first failed record to the end of the batch).
// The publisher's alarm watches RecordsRetried: a record that keeps failing ends in the
// on-failure destination.
const (
	MetricEventsPublished = "EventsPublished"
	MetricRecordsRetried  = "RecordsRetried"
)

// Handler publishes the events of a batch of the orders table's stream. Events and
// Decode are required; Metrics (EMF) is optional; Log defaults to slog.Default.
type Handler struct {
	Events  Publisher
	Decode  Decoder
	Metrics Recorder
	Log     *slog.Logger
}

// PoisonError is a stream record that is not a change of an order and never will be: an
// image that is missing or cannot be decoded as an order.
type PoisonError struct {
	Reason string
}

func (e *PoisonError) Error() string { return "not an order change: " + e.Reason }

// Announce returns the event announcing the change of record r, whose images decode
// reads, and false when the change announces nothing. It returns *PoisonError for a
// record whose images cannot be read as orders.
func Announce(r events.DynamoDBEventRecord, decode Decoder) (event.Event, bool, error) {
	switch r.EventName {
	case "INSERT", "MODIFY":
	case "REMOVE":
		return event.Event{}, false, nil // orders are never deleted by the system; nothing to announce
	default:
		return event.Event{}, false, &PoisonError{Reason: fmt.Sprintf("unknown eventName %q", r.EventName)}
	}
	now, err := image(decode, r.Change.NewImage, "NewImage")
	if err != nil {
		return event.Event{}, false, err
	}
	var old *order.Order
	if r.EventName == "MODIFY" {
		if old, err = image(decode, r.Change.OldImage, "OldImage"); err != nil {
			return event.Event{}, false, err
		}
	}
	ev, ok := Change(old, now)
	return ev, ok, nil
}

// Change returns the event announcing that an order went from old (nil for a new order)
// to now, and false when the change announces nothing: the status did not change, or the
// new status is not announced (VALIDATED, RESERVED, PAID).
func Change(old, now *order.Order) (event.Event, bool) {
	if old != nil && old.Status == now.Status {
		return event.Event{}, false
	}
	// occurredAt is when the change was made, not when it is published, so that every
	// publication of the change is the same event.
	return event.FromOrder(now, now.UpdatedAt)
}

// image decodes an order image of the stream, or returns *PoisonError.
func image(decode Decoder, img map[string]events.DynamoDBAttributeValue, name string) (*order.Order, error) {
	if len(img) == 0 {
		return nil, &PoisonError{Reason: name + " is missing (the stream must be NEW_AND_OLD_IMAGES)"}
	}
	o, err := decode(img)
	if err != nil {
		return nil, &PoisonError{Reason: name + ": " + err.Error()}
	}
	if o.ID == "" || o.Status == "" {
		return nil, &PoisonError{Reason: name + ": no order id or status"}
	}
	return o, nil
}

// Handle publishes the events of ev's records in order, up to the first record it cannot
// handle, and reports that record (the checkpoint) in the response. It never returns an
// error: every failure is a record to retry.
func (h *Handler) Handle(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	log := h.logger()
	var (
		evs    []event.Event
		source []int // the record of each event
		stop   = len(ev.Records)
	)
	for i, r := range ev.Records {
		e, ok, err := Announce(r, h.Decode)
		if err != nil {
			log.ErrorContext(ctx, "poison stream record; reported as failed, it ends in the on-failure destination after the mapping's retries",
				"sequenceNumber", r.Change.SequenceNumber, "eventName", r.EventName, "eventID", r.EventID, "error", err.Error())
			stop = i
			break
		}
		if ok {
			evs = append(evs, e)
			source = append(source, i)
		}
	}
	failed := stop
	if len(evs) > 0 {
		if err := h.Events.Publish(ctx, evs...); err != nil {
			if first := firstFailed(err, evs, source); first < failed {
				failed = first
			}
			log.WarnContext(ctx, "publish failed; the batch is retried from the first record whose event was not taken",
				"sequenceNumber", ev.Records[failed].Change.SequenceNumber, "error", err.Error())
		}
	}
	published := 0
	for _, i := range source {
		if i < failed {
			published++
		}
	}
	h.record(ctx, published, len(ev.Records)-failed)
	if failed == len(ev.Records) {
		return events.DynamoDBEventResponse{}, nil
	}
	return events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{
		{ItemIdentifier: ev.Records[failed].Change.SequenceNumber},
	}}, nil
}

// firstFailed returns the index of the first record whose event err says was not
// published; the first record with an event when err does not say which.
func firstFailed(err error, evs []event.Event, source []int) int {
	var pe notPublished
	if !errors.As(err, &pe) || len(pe.NotPublished()) == 0 {
		return source[0]
	}
	failed := make(map[string]bool, len(pe.NotPublished()))
	for _, id := range pe.NotPublished() {
		failed[id] = true
	}
	for j, e := range evs {
		if failed[e.Detail.Metadata.EventID] {
			return source[j]
		}
	}
	return source[0]
}

func (h *Handler) record(ctx context.Context, published, retried int) {
	if h.Metrics == nil {
		return
	}
	h.Metrics.Put(MetricEventsPublished, float64(published), metrics.Count)
	h.Metrics.Put(MetricRecordsRetried, float64(retried), metrics.Count)
	if err := h.Metrics.Flush(); err != nil {
		h.logger().WarnContext(ctx, "metrics flush failed", "error", err.Error())
	}
}

func (h *Handler) logger() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}
