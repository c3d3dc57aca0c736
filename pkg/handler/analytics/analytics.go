// Package analytics is the analytics function's handler: it consumes the order-stream
// Kinesis stream, where EventBridge puts every order event, writes each batch to the S3
// data lake and adds every event once to the per-minute metrics.
//
// A Kinesis shard is processed in order and Lambda's partial batch response is a
// checkpoint: reporting a sequence number retries the batch from that record and treats
// every record before it as done. So the handler stops at the first record it cannot
// process and reports it, and touches nothing after it. A malformed (poison) record is
// reported like a transient failure; with BisectBatchOnFunctionError and bounded retries
// on the event source mapping it ends in the on-failure destination, and the log says why.
//
// Metrics count each order state change once: the dedup key is event.ID(orderId, status),
// which is the eventId of every event the system publishes, the state machine's Order
// Confirmed (<orderId>:CONFIRMED) included. The data lake's raw/ objects are at-least-once: a batch retried whole
// overwrites its object, but a batch retried from a later record is written again under
// another batch id, so readers deduplicate on event_id (Row).
package analytics

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/pkg/event"
	"github.com/orderflow/orderflow/pkg/metrics"
	"github.com/orderflow/orderflow/pkg/order"
)

// Lake writes one batch of rows (JSON objects) to the data lake under a deterministic key
// made of day and batchID, and returns the key.
type Lake interface {
	Write(ctx context.Context, day time.Time, batchID string, rows [][]byte) (string, error)
}

// MetricsStore adds one event's delta to its minute, once per eventID: it returns false
// when eventID was applied before.
type MetricsStore interface {
	Apply(ctx context.Context, eventID string, d event.MetricDelta) (bool, error)
}

// Recorder collects CloudWatch metrics (EMF); *metrics.Recorder satisfies it.
type Recorder interface {
	Put(name string, value float64, unit metrics.Unit)
	Flush() error
}

// Handler processes Kinesis batches of order events. Lake and Metrics are required;
// EMF (business metrics in the log) is optional, Log defaults to slog.Default.
type Handler struct {
	Lake    Lake
	Metrics MetricsStore
	EMF     Recorder
	Log     *slog.Logger
}

// Row is one data-lake row: the fields analysts filter, group and deduplicate on as
// top-level columns, and the whole detail ({metadata, data}) for the rest. It is the
// contract of the Glue table order_events (infra/data-lake.yaml): its JSON keys are the
// table's column names, and TestRowsMatchTheGlueTable fails when the two differ.
//
// Not the EventBridge event as received: its envelope (id, account, region, time)
// answers no business question, and its id differs between two deliveries of one
// event, so queries could not deduplicate on it. EventID (<orderId>:<STATUS>) does.
type Row struct {
	EventID    string       `json:"event_id"`
	DetailType string       `json:"detail_type"`
	OrderID    string       `json:"order_id"`
	Status     order.Status `json:"status"`
	Currency   string       `json:"currency"`
	Total      int64        `json:"total"`
	// OccurredAt is written as RFC 3339 in UTC; Athena: from_iso8601_timestamp(occurred_at).
	OccurredAt time.Time       `json:"occurred_at"`
	Detail     json.RawMessage `json:"detail"`
}

// Record is one decoded order event from the stream.
type Record struct {
	DetailType string
	Detail     event.Detail
	RawDetail  json.RawMessage
	// OccurredAt is the event's metadata.occurredAt in UTC, or the EventBridge time when
	// the detail has none.
	OccurredAt time.Time
}

// PoisonError is a stream record that is not an order event and never will be.
type PoisonError struct {
	Reason string
}

func (e *PoisonError) Error() string { return "not an order event: " + e.Reason }

// Decode parses a record's data: an EventBridge event as EventBridge puts it on Kinesis.
// It returns *PoisonError for data that is not JSON, not one of the order detail-types, or
// a detail without eventId, orderId, status or currency, or whose status is not the one
// its detail-type announces.
func Decode(data []byte) (Record, error) {
	var r Record
	var ev struct {
		DetailType string          `json:"detail-type"`
		Time       time.Time       `json:"time"`
		Detail     json.RawMessage `json:"detail"`
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return r, &PoisonError{Reason: "empty data"}
	}
	if err := json.Unmarshal(data, &ev); err != nil {
		return r, &PoisonError{Reason: "data is not an EventBridge event: " + err.Error()}
	}
	if !known(ev.DetailType) {
		return r, &PoisonError{Reason: fmt.Sprintf("unknown detail-type %q", ev.DetailType)}
	}
	if len(ev.Detail) == 0 {
		return r, &PoisonError{Reason: "no detail"}
	}
	if err := json.Unmarshal(ev.Detail, &r.Detail); err != nil {
		return r, &PoisonError{Reason: "detail is not the event envelope: " + err.Error()}
	}
	var missing []string
	if r.Detail.Metadata.EventID == "" {
		missing = append(missing, "metadata.eventId")
	}
	if r.Detail.Data.OrderID == "" {
		missing = append(missing, "data.orderId")
	}
	if r.Detail.Data.Status == "" {
		missing = append(missing, "data.status")
	}
	if r.Detail.Data.Currency == "" {
		missing = append(missing, "data.currency")
	}
	if len(missing) > 0 {
		return r, &PoisonError{Reason: "missing " + strings.Join(missing, ", ")}
	}
	if dt, _ := event.ForStatus(r.Detail.Data.Status); dt != ev.DetailType {
		return r, &PoisonError{Reason: fmt.Sprintf("data.status %q does not match detail-type %q", r.Detail.Data.Status, ev.DetailType)}
	}
	if r.Detail.Data.Total < 0 {
		return r, &PoisonError{Reason: "negative data.total"}
	}
	r.DetailType, r.RawDetail = ev.DetailType, ev.Detail
	r.OccurredAt = r.Detail.Metadata.OccurredAt.UTC()
	if r.OccurredAt.IsZero() {
		r.OccurredAt = ev.Time.UTC()
	}
	if r.OccurredAt.IsZero() {
		return r, &PoisonError{Reason: "no metadata.occurredAt and no event time"}
	}
	return r, nil
}

func known(detailType string) bool {
	for _, dt := range event.DetailTypes {
		if dt == detailType {
			return true
		}
	}
	return false
}

// Delta returns what r adds to the metrics: one to its status in its minute and, for a
// confirmed order, its total to the revenue of its currency.
func (r Record) Delta() event.MetricDelta {
	d := event.MetricDelta{
		Minute:   r.OccurredAt.Truncate(time.Minute),
		Status:   string(r.Detail.Data.Status),
		Currency: r.Detail.Data.Currency,
	}
	if r.Detail.Data.Status == order.StatusConfirmed {
		d.Revenue = r.Detail.Data.Total
	}
	return d
}

// Key is the idempotency key of r's metrics: the order state change it announces.
func (r Record) Key() string { return event.ID(r.Detail.Data.OrderID, r.Detail.Data.Status) }

// Handle writes the decodable prefix of the batch to the data lake, then applies each
// event's metrics in order. It reports the sequence number of the first record it could
// not process (poison, lake failure, metrics failure) and never fails the whole batch:
// its error is always nil.
func (h *Handler) Handle(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
	resp := events.KinesisEventResponse{BatchItemFailures: []events.KinesisBatchItemFailure{}}
	if len(ev.Records) == 0 {
		return resp, nil
	}
	log := h.logger()
	defer h.flush(ctx, log)

	// Decode up to the first poison record: everything after it is re-sent with it.
	recs := make([]Record, 0, len(ev.Records))
	stop := -1
	for i, kr := range ev.Records {
		r, err := Decode(kr.Kinesis.Data)
		if err != nil {
			log.ErrorContext(ctx, "poison record: reported, it goes to the on-failure destination after the retries",
				"sequenceNumber", kr.Kinesis.SequenceNumber, "partitionKey", kr.Kinesis.PartitionKey,
				"eventSourceARN", kr.EventSourceArn, "error", err.Error())
			h.count("PoisonRecords", 1)
			stop = i
			break
		}
		recs = append(recs, r)
	}

	if len(recs) > 0 {
		if err := h.writeLake(ctx, ev.Records[:len(recs)], recs); err != nil {
			log.WarnContext(ctx, "data lake write failed; batch will be retried", "error", err.Error(),
				"sequenceNumber", ev.Records[0].Kinesis.SequenceNumber)
			return failAt(resp, ev.Records[0]), nil
		}
	}

	for i, r := range recs {
		applied, err := h.Metrics.Apply(ctx, r.Key(), r.Delta())
		if err != nil {
			log.WarnContext(ctx, "metrics update failed; retrying from this record",
				"sequenceNumber", ev.Records[i].Kinesis.SequenceNumber, "orderId", r.Detail.Data.OrderID,
				"eventId", r.Detail.Metadata.EventID, "error", err.Error())
			return failAt(resp, ev.Records[i]), nil
		}
		if !applied {
			h.count("DuplicateEvents", 1)
			continue
		}
		h.countEvent(r)
	}
	if stop >= 0 {
		return failAt(resp, ev.Records[stop]), nil
	}
	return resp, nil
}

func failAt(resp events.KinesisEventResponse, r events.KinesisEventRecord) events.KinesisEventResponse {
	resp.BatchItemFailures = append(resp.BatchItemFailures,
		events.KinesisBatchItemFailure{ItemIdentifier: r.Kinesis.SequenceNumber})
	return resp
}

// writeLake writes recs, grouped by the UTC day they occurred, one object per day.
func (h *Handler) writeLake(ctx context.Context, krs []events.KinesisEventRecord, recs []Record) error {
	id := BatchID(krs)
	var days []time.Time
	rows := map[time.Time][][]byte{}
	for _, r := range recs {
		day := r.OccurredAt.Truncate(24 * time.Hour)
		if _, ok := rows[day]; !ok {
			days = append(days, day)
		}
		row, err := json.Marshal(Row{
			EventID:    r.Detail.Metadata.EventID,
			DetailType: r.DetailType,
			OrderID:    r.Detail.Data.OrderID,
			Status:     r.Detail.Data.Status,
			Currency:   r.Detail.Data.Currency,
			Total:      r.Detail.Data.Total,
			OccurredAt: r.OccurredAt,
			Detail:     r.RawDetail,
		})
		if err != nil {
			return fmt.Errorf("encode lake row for event %s: %w", r.Detail.Metadata.EventID, err)
		}
		rows[day] = append(rows[day], row)
	}
	var errs []error
	for _, day := range days {
		if _, err := h.Lake.Write(ctx, day, id, rows[day]); err != nil {
			errs = append(errs, fmt.Errorf("write lake batch %s for %s: %w", id, day.Format(time.DateOnly), err))
		}
	}
	return errors.Join(errs...)
}

// BatchID names a batch after its shard and its first and last sequence numbers, so that
// the same batch retried gets the same id (and the same data-lake key). An id that would
// be too long for an object key is replaced by its SHA-256.
func BatchID(krs []events.KinesisEventRecord) string {
	if len(krs) == 0 {
		return ""
	}
	shard := "shard"
	if i := strings.LastIndexByte(krs[0].EventID, ':'); i > 0 {
		shard = krs[0].EventID[:i]
	}
	id := shard + "_" + krs[0].Kinesis.SequenceNumber + "_" + krs[len(krs)-1].Kinesis.SequenceNumber
	if len(id) > 180 || !safe(id) {
		sum := sha256.Sum256([]byte(krs[0].EventSourceArn + "|" + id))
		id = hex.EncodeToString(sum[:])
	}
	return id
}

func safe(s string) bool {
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
		default:
			return false
		}
	}
	return true
}

// metricNames maps statuses to the EMF metric counting them.
var metricNames = map[order.Status]string{
	order.StatusPending:   "OrdersCreated",
	order.StatusConfirmed: "OrdersConfirmed",
	order.StatusCancelled: "OrdersCancelled",
	order.StatusRejected:  "OrdersRejected",
}

func (h *Handler) countEvent(r Record) {
	if name, ok := metricNames[r.Detail.Data.Status]; ok {
		h.count(name, 1)
	}
}

func (h *Handler) count(name string, n float64) {
	if h.EMF != nil {
		h.EMF.Put(name, n, metrics.Count)
	}
}

func (h *Handler) flush(ctx context.Context, log *slog.Logger) {
	if h.EMF == nil {
		return
	}
	if err := h.EMF.Flush(); err != nil {
		log.WarnContext(ctx, "could not write EMF metrics", "error", err.Error())
	}
}

func (h *Handler) logger() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}
