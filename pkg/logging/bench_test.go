package logging_test

import (
	"io"
	"log/slog"
	"testing"

	"github.com/orderflow/orderflow/pkg/logging"
	"github.com/orderflow/orderflow/pkg/order"
)

// BenchmarkLine is one handler log line with the context attributes.
func BenchmarkLine(b *testing.B) {
	l := slog.New(logging.NewHandler(io.Discard, slog.LevelInfo))
	ctx := logging.WithOrder(lambdaCtx("req-1"), "01J8Z3K4M5N6P7Q8R9S0T1V2W3", "5f0c6f1e-8a3b-4c2d-9e1f-0a1b2c3d4e5f")
	b.ReportAllocs()
	for b.Loop() {
		l.InfoContext(ctx, "order accepted", "status", "PENDING", "total", 4599)
	}
}

// BenchmarkStructRedaction logs a whole request, which goes through the JSON round trip.
func BenchmarkStructRedaction(b *testing.B) {
	l := slog.New(logging.NewHandler(io.Discard, slog.LevelInfo))
	req := order.Request{CustomerID: "cust-1", Currency: "EUR", PaymentToken: "tok",
		Lines: []order.Line{{SKU: "SKU-1", Quantity: 2}}}
	b.ReportAllocs()
	for b.Loop() {
		l.Info("order received", "request", req)
	}
}
