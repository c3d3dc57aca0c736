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
	minutes map[time.Time]map[string]int64
}

// NewMetricsStore returns an empty MetricsStore.
func NewMetricsStore() *MetricsStore {
	return &MetricsStore{events: map[string]bool{}, minutes: map[time.Time]map[string]int64{}}
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
	m := s.minutes[key]
	if m == nil {
		m = map[string]int64{}
		s.minutes[key] = m
	}
	m["count_"+d.Status]++
	if d.Revenue > 0 {
		m["revenue_"+d.Currency] += d.Revenue
	}
	return true, nil
}

// Minute returns a copy of the counters of minute; an empty map when nothing
// happened in it. It never fails.
func (s *MetricsStore) Minute(_ context.Context, minute time.Time) (map[string]int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := maps.Clone(s.minutes[minuteOf(minute)])
	if m == nil {
		m = map[string]int64{}
	}
	return m, nil
}

// minuteOf returns the minute t falls in, in UTC: the key of its counters.
func minuteOf(t time.Time) time.Time { return t.UTC().Truncate(time.Minute) }
