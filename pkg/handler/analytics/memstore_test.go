package analytics

import (
	"context"
	"maps"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/events/samples"
	"github.com/orderflow/orderflow/pkg/event"
	"github.com/orderflow/orderflow/pkg/memstore"
)

// TestSampleBatchWithMemstore runs the sample batch twice over the in-memory metrics store
// (same once-per-key rule as DynamoDB): the per-minute counters count every event once.
func TestSampleBatchWithMemstore(t *testing.T) {
	raw, err := os.ReadFile("../../../events/analytics-batch.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.KinesisEvent
	samples.RoundTrip(t, raw, &ev)
	store := memstore.NewMetricsStore()
	h := &Handler{Lake: &fakeLake{}, Metrics: store, Log: quiet()}
	for range 2 {
		if resp, err := h.Handle(context.Background(), ev); err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("Handle = %v, %v", resp, err)
		}
	}
	tests := []struct {
		minute time.Time
		want   event.MinuteMetrics
	}{
		{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), event.MinuteMetrics{Count: map[string]int64{"PENDING": 2, "CONFIRMED": 1}, Revenue: map[string]int64{"USD": 2500}}},
		{time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC), event.MinuteMetrics{Count: map[string]int64{"CANCELLED": 1}, Revenue: map[string]int64{}}},
	}
	for _, tt := range tests {
		t.Run(tt.minute.Format(time.RFC3339), func(t *testing.T) {
			got, err := store.Minute(context.Background(), tt.minute)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got.Count, tt.want.Count) || !maps.Equal(got.Revenue, tt.want.Revenue) {
				t.Errorf("minute %s = %v, want %v", tt.minute, got, tt.want)
			}
		})
	}
}
