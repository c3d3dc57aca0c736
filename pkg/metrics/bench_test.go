package metrics_test

import (
	"fmt"
	"io"
	"testing"

	"github.com/orderflow/orderflow/pkg/metrics"
)

// BenchmarkOrderRecord is the per-order hot path: a few metrics and the order's ids.
func BenchmarkOrderRecord(b *testing.B) {
	r := metrics.New(io.Discard, metrics.DefaultNamespace, map[string]string{"service": "analytics"})
	b.ReportAllocs()
	for b.Loop() {
		r.Put("OrdersCreated", 1, metrics.Count)
		r.Put("OrderValue", 4599, metrics.None)
		r.Put("ProcessingLatency", 12.5, metrics.Milliseconds)
		r.Property("orderId", "01J8Z3K4M5N6P7Q8R9S0T1V2W3")
		r.Property("correlationId", "5f0c6f1e-8a3b-4c2d-9e1f-0a1b2c3d4e5f")
		if err := r.Flush(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBatchRecord is a Kinesis batch of 100 events: one value per event.
func BenchmarkBatchRecord(b *testing.B) {
	r := metrics.New(io.Discard, metrics.DefaultNamespace, map[string]string{"service": "analytics"})
	b.ReportAllocs()
	for b.Loop() {
		for i := range 100 {
			r.Put("EventAge", float64(i), metrics.Milliseconds)
		}
		r.Put("Events", 100, metrics.Count)
		if err := r.Flush(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSplit measures the split path: 150 distinct metrics, two records.
func BenchmarkSplit(b *testing.B) {
	names := make([]string, 150)
	for i := range names {
		names[i] = fmt.Sprintf("metric%03d", i)
	}
	r := metrics.New(io.Discard, metrics.DefaultNamespace, map[string]string{"service": "analytics"})
	b.ReportAllocs()
	for b.Loop() {
		for i, n := range names {
			r.Put(n, float64(i), metrics.Count)
		}
		if err := r.Flush(); err != nil {
			b.Fatal(err)
		}
	}
}
