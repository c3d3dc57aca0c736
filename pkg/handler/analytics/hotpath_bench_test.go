package analytics

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/pkg/event"
	"github.com/orderflow/orderflow/pkg/logging"
	"github.com/orderflow/orderflow/pkg/order"
)

// analyticsPayload is a Kinesis batch of 100 order events (50 orders created and
// confirmed) as the event source mapping delivers it.
func analyticsPayload(b *testing.B) []byte {
	var data [][]byte
	for i := range 50 {
		id := fmt.Sprintf("01956a1e-9c00-7abc-8def-%012d", i)
		at := t0.Add(time.Duration(i) * time.Second)
		data = append(data, orderEvent(id, order.StatusPending, 0, at), orderEvent(id, order.StatusConfirmed, 2500, at))
	}
	raw, err := json.Marshal(kinesis(data...))
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// BenchmarkHotpathAnalytics100 measures one Kinesis batch of 100 records from payload
// bytes to the encoded batch response: decode, one data-lake object, 100 metric updates
// (fakes; every event new each time).
func BenchmarkHotpathAnalytics100(b *testing.B) {
	raw := analyticsPayload(b)
	lake, store := &fakeLake{}, &fakeMetrics{}
	h := &Handler{Lake: lake, Metrics: store, EMF: &fakeEMF{}, Log: slog.New(logging.NewHandler(io.Discard, slog.LevelInfo))}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		lake.calls, store.calls = lake.calls[:0], store.calls[:0]
		clear(store.applied)
		var ev events.KinesisEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			b.Fatal(err)
		}
		resp, err := h.Handle(ctx, ev)
		if err != nil || len(resp.BatchItemFailures) != 0 || len(store.calls) != 100 {
			b.Fatalf("resp %v, err %v, %d applied", resp, err, len(store.calls))
		}
		if _, err := json.Marshal(resp); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeAnalytics100 measures only decoding the same payload: the Kinesis event
// (base64 data) and the EventBridge event with its detail in each record.
func BenchmarkDecodeAnalytics100(b *testing.B) {
	raw := analyticsPayload(b)
	b.ReportAllocs()
	for b.Loop() {
		var ev events.KinesisEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			b.Fatal(err)
		}
		for _, r := range ev.Records {
			var e struct {
				events.EventBridgeEvent
				Detail event.Detail `json:"detail"`
			}
			if err := json.Unmarshal(r.Kinesis.Data, &e); err != nil {
				b.Fatal(err)
			}
		}
	}
}
