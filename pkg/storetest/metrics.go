package storetest

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/orderflow/orderflow/pkg/event"
)

// MetricsStoreContract checks a metrics store: per-minute counts and revenue,
// each event counted once (also when applied concurrently), invalid deltas
// rejected without a trace. newStore returns an empty store for each case.
func MetricsStoreContract(t *testing.T, newStore func(t *testing.T) MetricsStore) {
	ctx := context.Background()
	type apply struct {
		id      string
		d       event.MetricDelta
		want    bool
		wantErr bool
	}
	confirmed := func(at time.Duration, cur string, rev int64) event.MetricDelta {
		return event.MetricDelta{Minute: t0.Add(at), Status: "CONFIRMED", Currency: cur, Revenue: rev}
	}
	tests := []struct {
		name    string
		applies []apply
		minutes map[time.Duration]event.MinuteMetrics // minute (after t0) → counters
	}{
		{name: "one event", applies: []apply{{id: "e1", d: confirmed(0, "USD", 1500), want: true}},
			minutes: map[time.Duration]event.MinuteMetrics{0: {Count: map[string]int64{"CONFIRMED": 1}, Revenue: map[string]int64{"USD": 1500}}}},
		{name: "the same event twice counts once", applies: []apply{
			{id: "e1", d: confirmed(0, "USD", 1500), want: true},
			{id: "e1", d: confirmed(0, "USD", 1500), want: false},
		}, minutes: map[time.Duration]event.MinuteMetrics{0: {Count: map[string]int64{"CONFIRMED": 1}, Revenue: map[string]int64{"USD": 1500}}}},
		{name: "events of a minute add up", applies: []apply{
			{id: "e1", d: confirmed(0, "USD", 1500), want: true},
			{id: "e2", d: confirmed(30*time.Second, "USD", 500), want: true},
			{id: "e3", d: confirmed(59*time.Second, "EUR", 700), want: true},
			{id: "e4", d: event.MetricDelta{Minute: t0.Add(10 * time.Second), Status: "CANCELLED", Currency: "USD"}, want: true},
		}, minutes: map[time.Duration]event.MinuteMetrics{
			0:                {Count: map[string]int64{"CONFIRMED": 3, "CANCELLED": 1}, Revenue: map[string]int64{"USD": 2000, "EUR": 700}},
			45 * time.Second: {Count: map[string]int64{"CONFIRMED": 3, "CANCELLED": 1}, Revenue: map[string]int64{"USD": 2000, "EUR": 700}},
		}},
		{name: "minutes are separate", applies: []apply{
			{id: "e1", d: confirmed(59*time.Second, "USD", 100), want: true},
			{id: "e2", d: confirmed(time.Minute, "USD", 200), want: true},
		}, minutes: map[time.Duration]event.MinuteMetrics{
			0:                {Count: map[string]int64{"CONFIRMED": 1}, Revenue: map[string]int64{"USD": 100}},
			time.Minute:      {Count: map[string]int64{"CONFIRMED": 1}, Revenue: map[string]int64{"USD": 200}},
			2 * time.Minute:  event.NewMinuteMetrics(),
			-1 * time.Minute: event.NewMinuteMetrics(),
		}},
		{name: "minute is taken in UTC", applies: []apply{
			{id: "e1", d: event.MetricDelta{Minute: t0.In(time.FixedZone("X", 5*3600+30*60)), Status: "PENDING"}, want: true},
		}, minutes: map[time.Duration]event.MinuteMetrics{0: {Count: map[string]int64{"PENDING": 1}, Revenue: map[string]int64{}}}},
		{name: "invalid deltas are rejected and leave no marker", applies: []apply{
			{id: "e1", d: event.MetricDelta{Minute: t0}, wantErr: true},
			{id: "e1", d: confirmed(0, "", 100), wantErr: true},
			{id: "e1", d: confirmed(0, "USD", -1), wantErr: true},
			{id: "e1", d: confirmed(0, "USD", 100), want: true},
		}, minutes: map[time.Duration]event.MinuteMetrics{0: {Count: map[string]int64{"CONFIRMED": 1}, Revenue: map[string]int64{"USD": 100}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			for i, a := range tt.applies {
				got, err := s.Apply(ctx, a.id, a.d)
				if a.wantErr {
					if err == nil {
						t.Fatalf("apply %d (%s): no error, want one", i, a.id)
					}
					continue
				}
				if err != nil || got != a.want {
					t.Fatalf("apply %d (%s) = %v, %v; want %v", i, a.id, got, err, a.want)
				}
			}
			for at, want := range tt.minutes {
				got, err := s.Minute(ctx, t0.Add(at))
				if err != nil {
					t.Fatalf("Minute +%s: %v", at, err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("Minute +%s = %v, want %v", at, got, want)
				}
			}
		})
	}

	t.Run("concurrent applies count each event once", func(t *testing.T) {
		s := newStore(t)
		const events, copies = 6, 3
		var mu sync.Mutex
		applied := 0
		concurrently(events*copies, func(i int) {
			ok, err := s.Apply(ctx, fmt.Sprintf("e%d", i%events), confirmed(0, "USD", 10))
			if err != nil {
				t.Errorf("Apply: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if ok {
				applied++
			}
		})
		got, err := s.Minute(ctx, t0)
		if err != nil {
			t.Fatalf("Minute: %v", err)
		}
		want := event.MinuteMetrics{Count: map[string]int64{"CONFIRMED": events}, Revenue: map[string]int64{"USD": 10 * events}}
		if applied != events || !reflect.DeepEqual(got, want) {
			t.Errorf("applied %d, minute %v; want %d, %v", applied, got, events, want)
		}
	})
}
