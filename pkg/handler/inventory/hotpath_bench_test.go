package inventory

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/pkg/logging"
)

// reservePayload is an SQS batch of n reserve commands (distinct orders, two lines each)
// as Lambda's event source mapping delivers it.
func reservePayload(b *testing.B, n int) []byte {
	var ev events.SQSEvent
	for i := range n {
		body := fmt.Sprintf(`{"command":"reserve","orderId":"01956a1e-9c00-7abc-8def-%012d","correlationId":"c-%d",`+
			`"lines":[{"sku":"SKU-1","quantity":2,"unitPrice":1250},{"sku":"SKU-2","quantity":1,"unitPrice":500}],`+
			`"taskToken":"AQCEAAAAKgAAAAMAAAAAAAAAAf%040d"}`, i, i, i)
		m := msg(fmt.Sprintf("msg-%d", i), body)
		m.EventSource, m.AWSRegion = "aws:sqs", "us-east-1"
		m.EventSourceARN = "arn:aws:sqs:us-east-1:123456789012:inventory-commands"
		ev.Records = append(ev.Records, m)
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// BenchmarkHotpathInventoryReserve10 measures one SQS batch of 10 reserve commands from
// payload bytes to the encoded batch response, over the function-field fakes (every
// reservation succeeds, every task token is answered).
func BenchmarkHotpathInventoryReserve10(b *testing.B) {
	raw := reservePayload(b, 10)
	tokens := &fakeTokens{}
	h := &Handler{Store: &fakeStore{}, Tokens: tokens, Log: slog.New(logging.NewHandler(io.Discard, slog.LevelInfo))}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		tokens.calls = tokens.calls[:0]
		var ev events.SQSEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			b.Fatal(err)
		}
		resp, err := h.Handle(ctx, ev)
		if err != nil || len(resp.BatchItemFailures) != 0 || len(tokens.calls) != 10 {
			b.Fatalf("resp %v, err %v, %d answers", resp, err, len(tokens.calls))
		}
		if _, err := json.Marshal(resp); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeInventoryReserve10 measures only decoding the same payload: the SQS
// event and the command in each body.
func BenchmarkDecodeInventoryReserve10(b *testing.B) {
	raw := reservePayload(b, 10)
	b.ReportAllocs()
	for b.Loop() {
		var ev events.SQSEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			b.Fatal(err)
		}
		for _, m := range ev.Records {
			var c Command
			if err := json.Unmarshal([]byte(m.Body), &c); err != nil {
				b.Fatal(err)
			}
		}
	}
}
