package ingest_test

import (
	"context"
	"log/slog"
	"strconv"
	"testing"
)

// BenchmarkCreateOrder measures the handler's own cost of accepting one order with an
// Idempotency-Key (decoding, validation, JSON encoding), with in-memory stores.
func BenchmarkCreateOrder(b *testing.B) {
	w := newWorld()
	h := newHandler(w, nil)
	h.Log = slog.New(slog.DiscardHandler)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		resp, _ := h.Handle(ctx, post(validBody, "Idempotency-Key", "key-"+strconv.Itoa(i)))
		if resp.StatusCode != 202 {
			b.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
		}
	}
}

// BenchmarkGetOrder measures GET /orders/{orderId}.
func BenchmarkGetOrder(b *testing.B) {
	w := newWorld()
	h := newHandler(w, nil)
	h.Log = slog.New(slog.DiscardHandler)
	ctx := context.Background()
	created, _ := h.Handle(ctx, post(validBody))
	id := created.Headers["Location"][len("/orders/"):]
	req := getReq(id)
	b.ReportAllocs()
	for b.Loop() {
		if resp, _ := h.Handle(ctx, req); resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}
