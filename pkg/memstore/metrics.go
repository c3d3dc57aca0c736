package memstore

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/orderflow/orderflow/pkg/event"
)

// MetricsStore is an in-memory dynamo.MetricsStore.
type MetricsStore struct {
	mu      sync.Mutex
	events  map[string]bool
	minutes map[time.Time]event.MinuteMetrics
}

// NewMetricsStore returns an empty MetricsStore.
func NewMetricsStore() *MetricsStore {
	return &MetricsStore{events: map[string]bool{}, minutes: map[time.Time]event.MinuteMetrics{}}
}

// Apply adds d to its minute once per eventID; it returns false when eventID
// was applied before, and an error when d is invalid.
func (s *MetricsStore) Apply(_ context.Context, eventID string, d event.MetricDelta) (bool, error) {
	if err := d.Validate(); err != nil {
		return false, fmt.Errorf("apply event %s: %w", eventID, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.events[eventID] {
		return false, nil
	}
	s.events[eventID] = true
	key := minuteOf(d.Minute)
	m, ok := s.minutes[key]
	if !ok {
		m = event.NewMinuteMetrics()
		s.minutes[key] = m
	}
	m.Add(d)
	return true, nil
}

// Minute returns a copy of the counters of minute; empty ones when nothing happened in
// it. It never fails.
func (s *MetricsStore) Minute(_ context.Context, minute time.Time) (event.MinuteMetrics, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := event.NewMinuteMetrics()
	m := s.minutes[minuteOf(minute)]
	maps.Copy(out.Count, m.Count)
	maps.Copy(out.Revenue, m.Revenue)
	return out, nil
}

// minuteOf returns the minute t falls in, in UTC: the key of its counters.
func minuteOf(t time.Time) time.Time { return t.UTC().Truncate(time.Minute) }
