package publisher_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/events/schemas"
	"github.com/orderflow/orderflow/pkg/bus"
	"github.com/orderflow/orderflow/pkg/dynamo/streamimage"
	"github.com/orderflow/orderflow/pkg/event"
	"github.com/orderflow/orderflow/pkg/handler/publisher"
	"github.com/orderflow/orderflow/pkg/logging"
	"github.com/orderflow/orderflow/pkg/order"
)

type fakeBus struct {
	publish func(ctx context.Context, evs ...event.Event) error
}

func (f *fakeBus) Publish(ctx context.Context, evs ...event.Event) error {
	return f.publish(ctx, evs...)
}

// recorder keeps what was published; fail, when set, decides per event whether the bus
// refuses it (reported as bus.PublishError, as pkg/bus reports failed entries).
type recorder struct {
	fakeBus
	events []event.Event
	calls  int
	fail   func(event.Event) bool
}

func newRecorder() *recorder {
	r := &recorder{}
	r.publish = func(_ context.Context, evs ...event.Event) error {
		r.calls++
		var failed []bus.FailedEntry
		for _, e := range evs {
			if r.fail != nil && r.fail(e) {
				failed = append(failed, bus.FailedEntry{EventID: e.Detail.Metadata.EventID, DetailType: e.DetailType, Code: "ThrottlingException"})
				continue
			}
			r.events = append(r.events, e)
		}
		if len(failed) > 0 {
			return &bus.PublishError{Failed: failed}
		}
		return nil
	}
	return r
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// orderIn returns order id moved along the legal path to status s at t0+n seconds.
func orderIn(t testing.TB, id string, s order.Status) *order.Order {
	t.Helper()
	o, err := order.New(id, order.Request{CustomerID: "cust-1", Currency: "USD", PaymentToken: "tok_visa",
		Lines: []order.Line{{SKU: "SKU-1", Quantity: 2}}}, "corr-"+id, t0)
	if err != nil {
		t.Fatal(err)
	}
	at := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	path := []func() error{
		func() error { return o.Price(map[string]int64{"SKU-1": 1250}, at(1)) },
		func() error { return o.MarkReserved(at(2)) },
		func() error { return o.MarkPaid(at(3)) },
		func() error { return o.Confirm(at(4)) },
	}
	switch s {
	case order.StatusRejected:
		must(t, o.Reject(order.ReasonUnknownSKU, at(1)))
	case order.StatusCancelled:
		must(t, o.Price(map[string]int64{"SKU-1": 1250}, at(1)))
		must(t, o.Cancel(order.ReasonOutOfStock, at(2)))
	default:
		for _, step := range path {
			if o.Status == s {
				break
			}
			must(t, step())
		}
	}
	if o.Status != s {
		t.Fatalf("cannot reach %s", s)
	}
	return o
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// image is o as a stream image: its item in the orders table, through the JSON of
// DynamoDB's wire format, as Lambda delivers it.
func image(t testing.TB, o *order.Order) map[string]events.DynamoDBAttributeValue {
	t.Helper()
	item := map[string]any{
		"order_id": map[string]string{"S": o.ID}, "customer_id": map[string]string{"S": o.CustomerID},
		"currency": map[string]string{"S": o.Currency}, "status": map[string]string{"S": string(o.Status)},
		"total": map[string]string{"N": itoa(o.Total)}, "version": map[string]string{"N": itoa(o.Version)},
		"correlation_id": map[string]string{"S": o.CorrelationID}, "payment_token": map[string]string{"S": o.PaymentToken},
		"created_at": map[string]string{"S": o.CreatedAt.Format(time.RFC3339Nano)},
		"updated_at": map[string]string{"S": o.UpdatedAt.Format(time.RFC3339Nano)},
	}
	var lines []any
	for _, l := range o.Lines {
		m := map[string]any{"sku": map[string]string{"S": l.SKU}, "quantity": map[string]string{"N": itoa(l.Quantity)}}
		if l.UnitPrice != 0 {
			m["unit_price"] = map[string]string{"N": itoa(l.UnitPrice)}
		}
		lines = append(lines, map[string]any{"M": m})
	}
	item["lines"] = map[string]any{"L": lines}
	if o.FailureReason != "" {
		item["failure_reason"] = map[string]string{"S": string(o.FailureReason)}
	}
	raw, err := json.Marshal(item)
	if err != nil {
		t.Fatal(err)
	}
	var img map[string]events.DynamoDBAttributeValue
	if err := json.Unmarshal(raw, &img); err != nil {
		t.Fatal(err)
	}
	return img
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

var seq = 100

func record(t testing.TB, name string, old, now *order.Order) events.DynamoDBEventRecord {
	t.Helper()
	seq++
	r := events.DynamoDBEventRecord{EventName: name, EventSource: "aws:dynamodb", AWSRegion: "us-east-1"}
	r.Change.SequenceNumber = itoa(int64(seq))
	r.Change.StreamViewType = "NEW_AND_OLD_IMAGES"
	if old != nil {
		r.Change.OldImage = image(t, old)
	}
	if now != nil {
		r.Change.NewImage = image(t, now)
	}
	return r
}

func TestAnnounce(t *testing.T) {
	const id = "0190f3c2-7a1e-7c4b-9d2e-3f4a5b6c7d01"
	tests := []struct {
		name      string
		rec       func(t *testing.T) events.DynamoDBEventRecord
		wantType  string // "" for no event
		wantStats order.Status
	}{
		{"insert of a pending order is Order Created", func(t *testing.T) events.DynamoDBEventRecord {
			return record(t, "INSERT", nil, orderIn(t, id, order.StatusPending))
		}, event.OrderCreated, order.StatusPending},
		{"into validated publishes nothing", func(t *testing.T) events.DynamoDBEventRecord {
			return record(t, "MODIFY", orderIn(t, id, order.StatusPending), orderIn(t, id, order.StatusValidated))
		}, "", ""},
		{"into reserved publishes nothing", func(t *testing.T) events.DynamoDBEventRecord {
			return record(t, "MODIFY", orderIn(t, id, order.StatusValidated), orderIn(t, id, order.StatusReserved))
		}, "", ""},
		{"validated to confirmed in one write is Order Confirmed", func(t *testing.T) events.DynamoDBEventRecord {
			return record(t, "MODIFY", orderIn(t, id, order.StatusValidated), orderIn(t, id, order.StatusConfirmed))
		}, event.OrderConfirmed, order.StatusConfirmed},
		{"into cancelled is Order Cancelled", func(t *testing.T) events.DynamoDBEventRecord {
			return record(t, "MODIFY", orderIn(t, id, order.StatusValidated), orderIn(t, id, order.StatusCancelled))
		}, event.OrderCancelled, order.StatusCancelled},
		{"into rejected is Order Rejected", func(t *testing.T) events.DynamoDBEventRecord {
			return record(t, "MODIFY", orderIn(t, id, order.StatusPending), orderIn(t, id, order.StatusRejected))
		}, event.OrderRejected, order.StatusRejected},
		{"a change that keeps the status publishes nothing", func(t *testing.T) events.DynamoDBEventRecord {
			o := orderIn(t, id, order.StatusConfirmed)
			again := *o
			again.Version++
			return record(t, "MODIFY", o, &again)
		}, "", ""},
		{"remove publishes nothing", func(t *testing.T) events.DynamoDBEventRecord {
			return record(t, "REMOVE", orderIn(t, id, order.StatusConfirmed), nil)
		}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, ok, err := publisher.Announce(tt.rec(t), streamimage.Order)
			if err != nil {
				t.Fatal(err)
			}
			if ok != (tt.wantType != "") || ev.DetailType != tt.wantType {
				t.Fatalf("Announce = %q %v, want %q", ev.DetailType, ok, tt.wantType)
			}
			if !ok {
				return
			}
			if ev.Detail.Metadata.EventID != id+":"+string(tt.wantStats) || ev.Detail.Data.Status != tt.wantStats {
				t.Errorf("eventId %s status %s", ev.Detail.Metadata.EventID, ev.Detail.Data.Status)
			}
			if !ev.Detail.Metadata.OccurredAt.Equal(ev.Detail.Data.UpdatedAt) {
				t.Errorf("occurredAt %v, want the change's updatedAt %v", ev.Detail.Metadata.OccurredAt, ev.Detail.Data.UpdatedAt)
			}
			raw, err := json.Marshal(ev.Detail)
			if err != nil {
				t.Fatal(err)
			}
			if err := schemas.Validate(ev.DetailType, raw); err != nil {
				t.Fatalf("schema: %v\n%s", err, raw)
			}
			if strings.Contains(string(raw), "tok_visa") {
				t.Fatalf("payment token published: %s", raw)
			}
		})
	}
}

func TestAnnouncePoison(t *testing.T) {
	const id = "0190f3c2-7a1e-7c4b-9d2e-3f4a5b6c7d01"
	good := func(t *testing.T) events.DynamoDBEventRecord {
		return record(t, "MODIFY", orderIn(t, id, order.StatusValidated), orderIn(t, id, order.StatusConfirmed))
	}
	tests := []struct {
		name   string
		mangle func(r *events.DynamoDBEventRecord)
		reason string
	}{
		{"no new image", func(r *events.DynamoDBEventRecord) { r.Change.NewImage = nil }, "NewImage is missing"},
		{"no old image on a modify", func(r *events.DynamoDBEventRecord) { r.Change.OldImage = nil }, "OldImage is missing"},
		{"total is not a number", func(r *events.DynamoDBEventRecord) {
			r.Change.NewImage["total"] = events.NewStringAttribute("lots")
		}, "total"},
		{"time is not a time", func(r *events.DynamoDBEventRecord) {
			r.Change.NewImage["updated_at"] = events.NewStringAttribute("yesterday")
		}, "updated_at"},
		{"no order id", func(r *events.DynamoDBEventRecord) { delete(r.Change.NewImage, "order_id") }, "no order id"},
		{"unknown event name", func(r *events.DynamoDBEventRecord) { r.EventName = "TRUNCATE" }, "TRUNCATE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := good(t)
			tt.mangle(&r)
			_, _, err := publisher.Announce(r, streamimage.Order)
			var pe *publisher.PoisonError
			if !errors.As(err, &pe) || !strings.Contains(pe.Reason, tt.reason) {
				t.Fatalf("Announce = %v, want a PoisonError naming %q", err, tt.reason)
			}
		})
	}
}

func handler(r *recorder, logs *bytes.Buffer) *publisher.Handler {
	if logs == nil {
		logs = &bytes.Buffer{}
	}
	return &publisher.Handler{Events: r, Decode: streamimage.Order, Log: slog.New(logging.NewHandler(logs, slog.LevelDebug))}
}

func ids(evs []event.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Detail.Metadata.EventID)
	}
	return out
}

// TestHandle: a batch publishes its events in one PutEvents (pkg/bus chunks by ten), and
// the partial batch response is the first record that failed, the checkpoint Lambda
// retries from, with nothing published past a poison record.
func TestHandle(t *testing.T) {
	a, b, c := "0190f3c2-0000-7000-8000-00000000000a", "0190f3c2-0000-7000-8000-00000000000b", "0190f3c2-0000-7000-8000-00000000000c"
	poison := func(t *testing.T, id string) events.DynamoDBEventRecord {
		r := record(t, "INSERT", nil, orderIn(t, id, order.StatusPending))
		r.Change.NewImage["version"] = events.NewStringAttribute("one")
		return r
	}
	tests := []struct {
		name        string
		records     func(t *testing.T) []events.DynamoDBEventRecord
		fail        func(event.Event) bool
		wantIDs     []string
		wantFailure int // index of the reported record; -1 for none
		wantCalls   int
	}{
		{"a whole order's life", func(t *testing.T) []events.DynamoDBEventRecord {
			return []events.DynamoDBEventRecord{
				record(t, "INSERT", nil, orderIn(t, a, order.StatusPending)),
				record(t, "MODIFY", orderIn(t, a, order.StatusPending), orderIn(t, a, order.StatusValidated)),
				record(t, "INSERT", nil, orderIn(t, b, order.StatusPending)),
				record(t, "MODIFY", orderIn(t, a, order.StatusValidated), orderIn(t, a, order.StatusConfirmed)),
				record(t, "MODIFY", orderIn(t, b, order.StatusPending), orderIn(t, b, order.StatusRejected)),
			}
		}, nil, []string{a + ":PENDING", b + ":PENDING", a + ":CONFIRMED", b + ":REJECTED"}, -1, 1},
		{"nothing to announce makes no call", func(t *testing.T) []events.DynamoDBEventRecord {
			return []events.DynamoDBEventRecord{record(t, "MODIFY", orderIn(t, a, order.StatusPending), orderIn(t, a, order.StatusValidated))}
		}, nil, nil, -1, 0},
		{"a poison record stops the batch and is reported", func(t *testing.T) []events.DynamoDBEventRecord {
			return []events.DynamoDBEventRecord{
				record(t, "INSERT", nil, orderIn(t, a, order.StatusPending)),
				poison(t, b),
				record(t, "INSERT", nil, orderIn(t, c, order.StatusPending)),
			}
		}, nil, []string{a + ":PENDING"}, 1, 1},
		{"a poison first record publishes nothing", func(t *testing.T) []events.DynamoDBEventRecord {
			return []events.DynamoDBEventRecord{poison(t, b), record(t, "INSERT", nil, orderIn(t, c, order.StatusPending))}
		}, nil, nil, 0, 0},
		{"an event the bus refuses reports its record", func(t *testing.T) []events.DynamoDBEventRecord {
			return []events.DynamoDBEventRecord{
				record(t, "INSERT", nil, orderIn(t, a, order.StatusPending)),
				record(t, "MODIFY", orderIn(t, a, order.StatusPending), orderIn(t, a, order.StatusValidated)),
				record(t, "INSERT", nil, orderIn(t, b, order.StatusPending)),
				record(t, "INSERT", nil, orderIn(t, c, order.StatusPending)),
			}
		}, func(e event.Event) bool { return e.Detail.Data.OrderID == b }, []string{a + ":PENDING", c + ":PENDING"}, 2, 1},
		{"a refused event before a poison record is the checkpoint", func(t *testing.T) []events.DynamoDBEventRecord {
			return []events.DynamoDBEventRecord{
				record(t, "INSERT", nil, orderIn(t, a, order.StatusPending)),
				poison(t, b),
			}
		}, func(event.Event) bool { return true }, nil, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRecorder()
			r.fail = tt.fail
			var logs bytes.Buffer
			recs := tt.records(t)
			resp, err := handler(r, &logs).Handle(context.Background(), events.DynamoDBEvent{Records: recs})
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(r.events); strings.Join(got, " ") != strings.Join(tt.wantIDs, " ") {
				t.Errorf("published %v, want %v", got, tt.wantIDs)
			}
			if r.calls != tt.wantCalls {
				t.Errorf("%d PutEvents, want %d", r.calls, tt.wantCalls)
			}
			var want []events.DynamoDBBatchItemFailure
			if tt.wantFailure >= 0 {
				want = []events.DynamoDBBatchItemFailure{{ItemIdentifier: recs[tt.wantFailure].Change.SequenceNumber}}
			}
			if len(resp.BatchItemFailures) != len(want) || (len(want) == 1 && resp.BatchItemFailures[0] != want[0]) {
				t.Errorf("batch item failures %v, want %v", resp.BatchItemFailures, want)
			}
			if strings.Contains(logs.String(), "tok_visa") {
				t.Error("payment token in the log")
			}
		})
	}
}

// A bus that fails as a whole (not per entry) reports the first record with an event.
func TestHandleBusDown(t *testing.T) {
	a := "0190f3c2-0000-7000-8000-00000000000a"
	r := newRecorder()
	r.publish = func(context.Context, ...event.Event) error { return errors.New("connection refused") }
	recs := []events.DynamoDBEventRecord{
		record(t, "MODIFY", orderIn(t, a, order.StatusPending), orderIn(t, a, order.StatusValidated)),
		record(t, "MODIFY", orderIn(t, a, order.StatusValidated), orderIn(t, a, order.StatusConfirmed)),
	}
	resp, _ := handler(r, nil).Handle(context.Background(), events.DynamoDBEvent{Records: recs})
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != recs[1].Change.SequenceNumber {
		t.Fatalf("batch item failures %v, want record 1", resp.BatchItemFailures)
	}
}

// A record delivered again (a retried batch) publishes the very same event: same eventId,
// same occurredAt, so consumers drop the copy.
func TestRedeliveryIsTheSameEvent(t *testing.T) {
	a := "0190f3c2-0000-7000-8000-00000000000a"
	rec := record(t, "MODIFY", orderIn(t, a, order.StatusValidated), orderIn(t, a, order.StatusConfirmed))
	r := newRecorder()
	h := handler(r, nil)
	for range 2 {
		if _, err := h.Handle(context.Background(), events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{rec}}); err != nil {
			t.Fatal(err)
		}
	}
	first, _ := json.Marshal(r.events[0].Detail)
	second, _ := json.Marshal(r.events[1].Detail)
	if !bytes.Equal(first, second) {
		t.Fatalf("two deliveries published\n%s\n%s", first, second)
	}
}
