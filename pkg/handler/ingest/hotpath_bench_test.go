package ingest_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strconv"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/pkg/logging"
	"github.com/orderflow/orderflow/pkg/order"
)

// The Hotpath/Decode pairs below are what `make bench` (cmd/benchreport) reports: the
// handler's whole in-process work for one invoke (decode the Lambda payload, handle it
// over in-memory fakes, encode the answer, JSON logs to io.Discard) beside the cost of
// only decoding the same payload into the same types.

// ingestPayload is the invoke payload of POST /orders as API Gateway (payload 2.0) sends
// it, with an Idempotency-Key.
func ingestPayload(b *testing.B) []byte {
	req := post(validBody, "Idempotency-Key", "key-1")
	raw, err := json.Marshal(req)
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// BenchmarkHotpathIngestPOST measures one POST /orders from payload bytes to response bytes.
func BenchmarkHotpathIngestPOST(b *testing.B) {
	w := newWorld()
	h := newHandler(w, nil)
	h.Log = slog.New(logging.NewHandler(io.Discard, slog.LevelInfo))
	raw := ingestPayload(b)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		clear(w.orders)
		clear(w.keys)
		var req events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(raw, &req); err != nil {
			b.Fatal(err)
		}
		req.Headers["Idempotency-Key"] = "key-" + strconv.Itoa(i)
		resp, _ := h.Handle(ctx, req)
		if resp.StatusCode != 202 {
			b.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
		}
		if _, err := json.Marshal(resp); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeIngestPOST measures only decoding the same payload: the API Gateway
// event and the order request in its body.
func BenchmarkDecodeIngestPOST(b *testing.B) {
	raw := ingestPayload(b)
	b.ReportAllocs()
	for b.Loop() {
		var req events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(raw, &req); err != nil {
			b.Fatal(err)
		}
		var body order.Request
		if err := json.Unmarshal([]byte(req.Body), &body); err != nil {
			b.Fatal(err)
		}
	}
}
