package publisher_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/pkg/logging"
	"github.com/orderflow/orderflow/pkg/order"
)

// publisherPayload is a DynamoDB stream batch of 100 order changes as the mapping
// delivers it: for 25 orders, the insert and the changes into VALIDATED, RESERVED and
// CONFIRMED (two of the four announced).
func publisherPayload(b *testing.B) []byte {
	t := b
	var recs []events.DynamoDBEventRecord
	for i := range 25 {
		id := fmt.Sprintf("01956a1e-9c00-7abc-8def-%012d", i)
		pending, validated := orderIn(t, id, order.StatusPending), orderIn(t, id, order.StatusValidated)
		reserved, confirmed := orderIn(t, id, order.StatusReserved), orderIn(t, id, order.StatusConfirmed)
		recs = append(recs, record(t, "INSERT", nil, pending), record(t, "MODIFY", pending, validated),
			record(t, "MODIFY", validated, reserved), record(t, "MODIFY", reserved, confirmed))
	}
	raw, err := json.Marshal(events.DynamoDBEvent{Records: recs})
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// BenchmarkHotpathPublisher100 measures one stream batch of 100 records from payload
// bytes to the encoded batch response: decode, 200 images read through the orders
// table's codec, 50 events built, one Publish (a fake bus), the response encoded.
func BenchmarkHotpathPublisher100(b *testing.B) {
	raw := publisherPayload(b)
	r := newRecorder()
	h := handler(r, nil)
	h.Log = slog.New(logging.NewHandler(io.Discard, slog.LevelInfo))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r.events = r.events[:0]
		var ev events.DynamoDBEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			b.Fatal(err)
		}
		resp, err := h.Handle(ctx, ev)
		if err != nil || len(resp.BatchItemFailures) != 0 || len(r.events) != 50 {
			b.Fatalf("resp %v, err %v, %d events", resp, err, len(r.events))
		}
		if _, err := json.Marshal(resp); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodePublisher100 measures only decoding the same payload.
func BenchmarkDecodePublisher100(b *testing.B) {
	raw := publisherPayload(b)
	b.ReportAllocs()
	for b.Loop() {
		var ev events.DynamoDBEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			b.Fatal(err)
		}
	}
}
