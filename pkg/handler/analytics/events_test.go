package analytics

import (
	"context"
	"reflect"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/events/samples"
	"github.com/orderflow/orderflow/events/schemas"
)

// TestSampleEvents runs every events/analytics-*.json through the handler, after checking
// each record's EventBridge event against its business-event schema. A new file must get
// an entry here.
func TestSampleEvents(t *testing.T) {
	type outcome struct {
		rows    int
		counts  map[string]int   // status -> events applied
		revenue map[string]int64 // currency -> revenue applied
	}
	want := map[string]outcome{
		"analytics-batch.json": {
			rows:    4,
			counts:  map[string]int{"PENDING": 2, "CONFIRMED": 1, "CANCELLED": 1},
			revenue: map[string]int64{"USD": 2500},
		},
	}
	samples.Run(t, "analytics", want, func(t *testing.T, raw []byte, w outcome) {
		var ev events.KinesisEvent
		samples.RoundTrip(t, raw, &ev)
		for i, r := range ev.Records {
			if err := schemas.ValidateEvent(r.Kinesis.Data); err != nil {
				t.Errorf("record %d: %v", i, err)
			}
		}

		lake, store := &fakeLake{}, &fakeMetrics{}
		h := &Handler{Lake: lake, Metrics: store, EMF: &fakeEMF{}, Log: quiet()}
		resp, err := h.Handle(context.Background(), ev)
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("Handle = %v, %v; want no failure", resp, err)
		}
		rows := 0
		for _, c := range lake.calls {
			rows += len(c.Rows)
		}
		if rows != w.rows {
			t.Errorf("lake rows = %d, want %d", rows, w.rows)
		}
		counts, revenue := map[string]int{}, map[string]int64{}
		for _, c := range store.calls {
			counts[c.Delta.Status]++
			if c.Delta.Revenue > 0 {
				revenue[c.Delta.Currency] += c.Delta.Revenue
			}
		}
		if !reflect.DeepEqual(counts, w.counts) || !reflect.DeepEqual(revenue, w.revenue) {
			t.Errorf("applied counts %v revenue %v, want %v %v", counts, revenue, w.counts, w.revenue)
		}
	})
}
