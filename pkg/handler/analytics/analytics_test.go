package analytics

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/pkg/event"
	"github.com/orderflow/orderflow/pkg/metrics"
	"github.com/orderflow/orderflow/pkg/order"
)

type lakeCall struct {
	Day     time.Time
	BatchID string
	Rows    [][]byte
}

// fakeLake records writes; write, when set, decides the outcome.
type fakeLake struct {
	write func(c lakeCall) error
	calls []lakeCall
}

func (f *fakeLake) Write(_ context.Context, day time.Time, batchID string, rows [][]byte) (string, error) {
	c := lakeCall{Day: day, BatchID: batchID, Rows: rows}
	f.calls = append(f.calls, c)
	if f.write != nil {
		if err := f.write(c); err != nil {
			return "", err
		}
	}
	return "raw/dt=" + day.Format(time.DateOnly) + "/" + batchID + ".json", nil
}

type applyCall struct {
	Key   string
	Delta event.MetricDelta
}

// fakeMetrics applies each key once, like the real store; fail, when set, injects errors.
type fakeMetrics struct {
	fail    func(c applyCall) error
	calls   []applyCall
	applied map[string]bool
}

func (f *fakeMetrics) Apply(_ context.Context, key string, d event.MetricDelta) (bool, error) {
	c := applyCall{Key: key, Delta: d}
	f.calls = append(f.calls, c)
	if f.fail != nil {
		if err := f.fail(c); err != nil {
			return false, err
		}
	}
	if f.applied == nil {
		f.applied = map[string]bool{}
	}
	if f.applied[key] {
		return false, nil
	}
	f.applied[key] = true
	return true, nil
}

// fakeEMF sums the values put per metric name.
type fakeEMF struct {
	sums    map[string]float64
	flushes int
}

func (f *fakeEMF) Put(name string, v float64, unit metrics.Unit) {
	if unit != metrics.Count {
		name += " (unit " + string(unit) + ")" // shows up as an unexpected metric
	}
	if f.sums == nil {
		f.sums = map[string]float64{}
	}
	f.sums[name] += v
}

func (f *fakeEMF) Flush() error { f.flushes++; return nil }

var t0 = time.Date(2026, 1, 1, 10, 15, 42, 0, time.UTC)

func orderEvent(orderID string, status order.Status, total int64, at time.Time) []byte {
	dt, _ := event.ForStatus(status)
	d := event.Detail{
		Metadata: event.Metadata{EventID: event.ID(orderID, status), SchemaVersion: event.SchemaVersion,
			CorrelationID: "corr-" + orderID, OccurredAt: at},
		Data: event.Data{OrderID: orderID, CustomerID: "cust-1", Status: status, Currency: "USD", Total: total,
			Lines: []event.Line{{SKU: "A", Quantity: 2}}, CreatedAt: at, UpdatedAt: at},
	}
	if status == order.StatusCancelled {
		d.Data.FailureReason = order.ReasonOutOfStock
	}
	detail, err := json.Marshal(d)
	if err != nil {
		panic(err)
	}
	ev, err := json.Marshal(events.EventBridgeEvent{Version: "0", ID: "eb-" + orderID, DetailType: dt,
		Source: event.DefaultSource, Time: at, Detail: detail})
	if err != nil {
		panic(err)
	}
	return ev
}

func kinesis(data ...[]byte) events.KinesisEvent {
	var ev events.KinesisEvent
	for i, d := range data {
		seq := fmt.Sprintf("4964%052d", i+1)
		ev.Records = append(ev.Records, events.KinesisEventRecord{
			EventID:        "shardId-000000000001:" + seq,
			EventSourceArn: "arn:aws:kinesis:us-east-1:123456789012:stream/order-stream",
			Kinesis:        events.KinesisRecord{Data: d, SequenceNumber: seq, PartitionKey: "p"},
		})
	}
	return ev
}

func seqs(r events.KinesisEventResponse) []string {
	out := []string{}
	for _, f := range r.BatchItemFailures {
		out = append(out, f.ItemIdentifier)
	}
	return out
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestHandleBatch(t *testing.T) {
	created := orderEvent("o1", order.StatusPending, 0, t0)
	confirmed := orderEvent("o1", order.StatusConfirmed, 2500, t0.Add(3*time.Second))
	h := &Handler{Lake: &fakeLake{}, Metrics: &fakeMetrics{}, EMF: &fakeEMF{}, Log: quiet()}
	lake, store, emf := h.Lake.(*fakeLake), h.Metrics.(*fakeMetrics), h.EMF.(*fakeEMF)

	ev := kinesis(created, confirmed)
	resp, err := h.Handle(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Handle = %v, %v; want no failure", resp, err)
	}

	t.Run("one lake object with one row per event", func(t *testing.T) {
		if len(lake.calls) != 1 {
			t.Fatalf("lake writes = %d, want 1", len(lake.calls))
		}
		c := lake.calls[0]
		if !c.Day.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) || c.BatchID != BatchID(ev.Records) {
			t.Errorf("write day %v id %s", c.Day, c.BatchID)
		}
		if len(c.Rows) != 2 {
			t.Fatalf("rows = %d, want 2", len(c.Rows))
		}
		var row map[string]any
		if err := json.Unmarshal(c.Rows[1], &row); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"event_id": event.ID("o1", order.StatusConfirmed), "detail_type": "Order Confirmed",
			"order_id": "o1", "status": "CONFIRMED", "currency": "USD", "total": 2500.0, "occurred_at": "2026-01-01T10:15:45Z"}
		for k, v := range want {
			if row[k] != v {
				t.Errorf("row[%s] = %v, want %v", k, row[k], v)
			}
		}
		if d, ok := row["detail"].(map[string]any); !ok || d["data"].(map[string]any)["customerId"] != "cust-1" {
			t.Errorf("row detail = %v, want the full detail", row["detail"])
		}
	})
	t.Run("metrics per event, revenue only when confirmed", func(t *testing.T) {
		minute := time.Date(2026, 1, 1, 10, 15, 0, 0, time.UTC)
		want := []applyCall{
			{event.ID("o1", order.StatusPending), event.MetricDelta{Minute: minute, Status: "PENDING", Currency: "USD"}},
			{event.ID("o1", order.StatusConfirmed), event.MetricDelta{Minute: minute, Status: "CONFIRMED", Currency: "USD", Revenue: 2500}},
		}
		if !slices.Equal(store.calls, want) {
			t.Errorf("Apply calls = %+v, want %+v", store.calls, want)
		}
	})
	t.Run("EMF counts", func(t *testing.T) {
		if emf.sums["OrdersCreated"] != 1 || emf.sums["OrdersConfirmed"] != 1 || emf.flushes != 1 {
			t.Errorf("EMF = %v, %d flushes", emf.sums, emf.flushes)
		}
	})
	t.Run("the batch delivered again is a success that counts nothing", func(t *testing.T) {
		resp, err := h.Handle(context.Background(), ev)
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("Handle = %v, %v", resp, err)
		}
		if len(store.calls) != 4 || len(store.applied) != 2 {
			t.Errorf("Apply calls %d (want 4), applied %d (want 2)", len(store.calls), len(store.applied))
		}
		if lake.calls[1].BatchID != lake.calls[0].BatchID {
			t.Errorf("retried batch id %s, first %s: the lake object would be duplicated", lake.calls[1].BatchID, lake.calls[0].BatchID)
		}
		if emf.sums["OrdersConfirmed"] != 1 || emf.sums["DuplicateEvents"] != 2 {
			t.Errorf("EMF = %v", emf.sums)
		}
	})
}

func TestHandleFailures(t *testing.T) {
	errDDB := errors.New("throttled")
	recs := [][]byte{
		orderEvent("o1", order.StatusPending, 0, t0),
		orderEvent("o2", order.StatusConfirmed, 100, t0),
		orderEvent("o3", order.StatusCancelled, 200, t0),
		orderEvent("o4", order.StatusRejected, 0, t0),
	}
	ev := kinesis(recs...)
	seq := func(i int) string { return ev.Records[i].Kinesis.SequenceNumber }
	tests := []struct {
		name       string
		lake       func(lakeCall) error
		apply      func(applyCall) error
		wantFailed []string
		wantApply  []string // order ids Apply was called for
	}{
		{
			name:       "record 2 of 4 fails: its sequence number, nothing after it",
			apply:      func(c applyCall) error { return when(c.Key == event.ID("o2", order.StatusConfirmed), errDDB) },
			wantFailed: []string{seq(1)}, wantApply: []string{"o1", "o2"},
		},
		{
			name:       "last record fails",
			apply:      func(c applyCall) error { return when(c.Delta.Status == "REJECTED", errDDB) },
			wantFailed: []string{seq(3)}, wantApply: []string{"o1", "o2", "o3", "o4"},
		},
		{
			name:       "lake write fails: whole batch from the first record, no metrics",
			lake:       func(lakeCall) error { return errors.New("s3 503") },
			wantFailed: []string{seq(0)}, wantApply: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &fakeMetrics{fail: tt.apply}
			h := &Handler{Lake: &fakeLake{write: tt.lake}, Metrics: store, Log: quiet()}
			resp, err := h.Handle(context.Background(), ev)
			if err != nil {
				t.Fatalf("Handle error = %v, want nil", err)
			}
			if got := seqs(resp); !slices.Equal(got, tt.wantFailed) {
				t.Errorf("failed = %v, want %v", got, tt.wantFailed)
			}
			var got []string
			for _, c := range store.calls {
				for _, id := range []string{"o1", "o2", "o3", "o4"} {
					if c.Key == event.ID(id, order.Status(c.Delta.Status)) {
						got = append(got, id)
					}
				}
			}
			if !slices.Equal(got, tt.wantApply) {
				t.Errorf("Apply for %v, want %v", got, tt.wantApply)
			}
		})
	}
}

func when(cond bool, err error) error {
	if cond {
		return err
	}
	return nil
}

func TestHandlePoison(t *testing.T) {
	good := func(id string) []byte { return orderEvent(id, order.StatusConfirmed, 100, t0) }
	envelope := func(detailType, detail string) []byte {
		return []byte(`{"version":"0","detail-type":"` + detailType + `","source":"myapp.orders","time":"2026-01-01T10:00:00Z","detail":` + detail + `}`)
	}
	tests := []struct {
		name   string
		data   []byte
		reason string
	}{
		{"empty data", nil, "empty data"},
		{"binary garbage", []byte{0x1f, 0x8b, 0x08, 0x00, 0xff}, "not an EventBridge event"},
		{"still base64", []byte("eyJkZXRhaWwtdHlwZSI6Ik9yZGVyIENyZWF0ZWQifQ=="), "not an EventBridge event"},
		{"JSON but not an event", []byte(`{"hello":"world"}`), `unknown detail-type \"\"`},
		{"JSON array", []byte(`[1,2,3]`), "not an EventBridge event"},
		{"other detail-type", envelope("Order Shipped", `{}`), `unknown detail-type \"Order Shipped\"`},
		{"no detail", []byte(`{"detail-type":"Order Created"}`), "no detail"},
		{"detail not an object", envelope("Order Created", `"x"`), "detail is not the event envelope"},
		{"missing eventId", envelope("Order Created",
			`{"metadata":{"occurredAt":"2026-01-01T10:00:00Z"},"data":{"orderId":"o","status":"PENDING","currency":"USD"}}`),
			"missing metadata.eventId"},
		{"empty envelope", envelope("Order Created", `{}`), "missing metadata.eventId, data.orderId, data.status, data.currency"},
		{"status not of its detail-type", envelope("Order Created",
			`{"metadata":{"eventId":"e"},"data":{"orderId":"o","status":"CONFIRMED","currency":"USD"}}`),
			`data.status \"CONFIRMED\" does not match detail-type \"Order Created\"`},
		{"negative total", envelope("Order Confirmed",
			`{"metadata":{"eventId":"e"},"data":{"orderId":"o","status":"CONFIRMED","currency":"USD","total":-5}}`),
			"negative data.total"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			lake, store, emf := &fakeLake{}, &fakeMetrics{}, &fakeEMF{}
			h := &Handler{Lake: lake, Metrics: store, EMF: emf, Log: slog.New(slog.NewJSONHandler(&logs, nil))}
			ev := kinesis(good("o1"), tt.data, good("o3"))
			resp, err := h.Handle(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			if got := seqs(resp); !slices.Equal(got, []string{ev.Records[1].Kinesis.SequenceNumber}) {
				t.Errorf("failed = %v, want the poison record's sequence number", got)
			}
			if len(lake.calls) != 1 || len(lake.calls[0].Rows) != 1 {
				t.Errorf("lake writes = %+v, want one with the record before the poison one", lake.calls)
			}
			if len(store.calls) != 1 {
				t.Errorf("Apply calls = %+v, want only the record before the poison one", store.calls)
			}
			if emf.sums["PoisonRecords"] != 1 {
				t.Errorf("EMF = %v", emf.sums)
			}
			for _, want := range []string{`"level":"ERROR"`, `"sequenceNumber":"` + ev.Records[1].Kinesis.SequenceNumber + `"`, tt.reason} {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("log %s lacks %s", logs.String(), want)
				}
			}
		})
	}
	t.Run("poison first record: nothing written", func(t *testing.T) {
		lake, store := &fakeLake{}, &fakeMetrics{}
		h := &Handler{Lake: lake, Metrics: store, Log: quiet()}
		ev := kinesis([]byte("garbage"), good("o2"))
		resp, _ := h.Handle(context.Background(), ev)
		if got := seqs(resp); !slices.Equal(got, []string{ev.Records[0].Kinesis.SequenceNumber}) {
			t.Errorf("failed = %v", got)
		}
		if len(lake.calls)+len(store.calls) != 0 {
			t.Errorf("wrote %d lake objects, %d metrics", len(lake.calls), len(store.calls))
		}
	})
}

func TestHandleSplitsLakeByDay(t *testing.T) {
	late := time.Date(2026, 1, 1, 23, 59, 59, 0, time.UTC)
	lake := &fakeLake{}
	h := &Handler{Lake: lake, Metrics: &fakeMetrics{}, Log: quiet()}
	ev := kinesis(orderEvent("o1", order.StatusPending, 0, late), orderEvent("o2", order.StatusPending, 0, late.Add(2*time.Second)),
		orderEvent("o3", order.StatusPending, 0, late))
	if resp, _ := h.Handle(context.Background(), ev); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("failures %v", resp.BatchItemFailures)
	}
	if len(lake.calls) != 2 {
		t.Fatalf("lake writes = %d, want one per day", len(lake.calls))
	}
	if d := lake.calls[0].Day.Format(time.DateOnly); d != "2026-01-01" || len(lake.calls[0].Rows) != 2 {
		t.Errorf("first write %s with %d rows", d, len(lake.calls[0].Rows))
	}
	if d := lake.calls[1].Day.Format(time.DateOnly); d != "2026-01-02" || len(lake.calls[1].Rows) != 1 {
		t.Errorf("second write %s with %d rows", d, len(lake.calls[1].Rows))
	}
}

func TestBatchID(t *testing.T) {
	a := kinesis([]byte("1"), []byte("2"), []byte("3")).Records
	tests := []struct {
		name string
		recs []events.KinesisEventRecord
		want string
	}{
		{"shard, first and last", a, "shardId-000000000001_" + a[0].Kinesis.SequenceNumber + "_" + a[2].Kinesis.SequenceNumber},
		{"one record", a[1:2], "shardId-000000000001_" + a[1].Kinesis.SequenceNumber + "_" + a[1].Kinesis.SequenceNumber},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := BatchID(tt.recs); got != tt.want {
				t.Errorf("BatchID = %s, want %s", got, tt.want)
			}
		})
	}
	t.Run("unsafe id is hashed", func(t *testing.T) {
		r := slices.Clone(a)
		r[0].EventID = "shard/../x:1"
		id := BatchID(r)
		if len(id) != 64 || strings.Contains(id, "/") || id != BatchID(r) {
			t.Errorf("BatchID = %s", id)
		}
	})
}
