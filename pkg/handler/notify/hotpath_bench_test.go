package notify

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/pkg/event"
	"github.com/orderflow/orderflow/pkg/logging"
	"github.com/orderflow/orderflow/pkg/order"
)

// notifyPayload is an Order Confirmed event as the EventBridge rule delivers it.
func notifyPayload(b *testing.B) []byte {
	d, err := json.Marshal(detail(order.StatusConfirmed, "", "USD", 2500))
	if err != nil {
		b.Fatal(err)
	}
	raw, err := json.Marshal(events.EventBridgeEvent{Version: "0", ID: "eb-1", DetailType: event.OrderConfirmed,
		Source: event.DefaultSource, AccountID: "123456789012", Region: "us-east-1",
		Time: time.Date(2026, 1, 1, 0, 0, 4, 0, time.UTC), Detail: d})
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// BenchmarkHotpathNotify measures one Order Confirmed delivery from payload bytes: decode,
// claim the marker, render and publish the notification (fakes; a fresh marker each time).
func BenchmarkHotpathNotify(b *testing.B) {
	raw := notifyPayload(b)
	markers, sns := &fakeMarkers{}, &fakeTopic{}
	h := &Handler{Markers: markers, Topic: sns, Log: slog.New(logging.NewHandler(io.Discard, slog.LevelInfo))}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		clear(markers.state)
		sns.sent = sns.sent[:0]
		var ev events.EventBridgeEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			b.Fatal(err)
		}
		if err := h.Handle(ctx, ev); err != nil || len(sns.sent) != 1 {
			b.Fatalf("err %v, %d sent", err, len(sns.sent))
		}
	}
}

// BenchmarkDecodeNotify measures only decoding the same payload: the EventBridge event
// and its detail.
func BenchmarkDecodeNotify(b *testing.B) {
	raw := notifyPayload(b)
	b.ReportAllocs()
	for b.Loop() {
		var ev events.EventBridgeEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			b.Fatal(err)
		}
		var d event.Detail
		if err := json.Unmarshal(ev.Detail, &d); err != nil {
			b.Fatal(err)
		}
	}
}
