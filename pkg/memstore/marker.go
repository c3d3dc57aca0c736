package memstore

import (
	"context"
	"sync"
	"time"
)

// MarkerStore is an in-memory dynamo.MarkerStore.
type MarkerStore struct {
	mu      sync.Mutex
	markers map[string]int64 // id → expiry in epoch seconds, 0 = never
}

// NewMarkerStore returns an empty MarkerStore.
func NewMarkerStore() *MarkerStore { return &MarkerStore{markers: map[string]int64{}} }

// Claim reports whether this is the first claim of id; a marker whose ttl
// passed at now (rounded up to whole seconds, as in DynamoDB) counts as
// absent, and ttl <= 0 keeps it for ever. It never fails.
func (s *MarkerStore) Claim(_ context.Context, id string, ttl time.Duration, now time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if exp, ok := s.markers[id]; ok && (exp == 0 || exp > now.Unix()) {
		return false, nil
	}
	var exp int64
	if ttl > 0 {
		t := now.Add(ttl)
		exp = t.Unix()
		if t.Nanosecond() > 0 {
			exp++
		}
	}
	s.markers[id] = exp
	return true, nil
}

// Unclaim deletes the marker of id. It never fails.
func (s *MarkerStore) Unclaim(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.markers, id)
	return nil
}
