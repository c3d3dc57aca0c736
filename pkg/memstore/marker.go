package memstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/orderflow/orderflow/pkg/event"
)

// marker is one processed-event marker, with DynamoDB's precision: claimedAt in epoch
// milliseconds, exp in epoch seconds (0 = never expires).
type marker struct {
	done      bool
	claimedAt int64
	exp       int64
}

// MarkerStore is an in-memory dynamo.MarkerStore.
type MarkerStore struct {
	mu      sync.Mutex
	markers map[string]marker
}

// NewMarkerStore returns an empty MarkerStore.
func NewMarkerStore() *MarkerStore { return &MarkerStore{markers: map[string]marker{}} }

// Claim takes the marker of id when it is absent, expired at now (ttl rounded up to whole
// seconds, as in DynamoDB; ttl <= 0 keeps it for ever) or in progress with a lease that ran
// out (claimed more than lease before now); otherwise it reports event.AlreadyDone or
// event.InProgress. It fails only when lease is not positive.
func (s *MarkerStore) Claim(_ context.Context, id string, lease, ttl time.Duration, now time.Time) (event.ClaimResult, error) {
	if lease <= 0 {
		return 0, fmt.Errorf("claim %s: lease %s is not positive", id, lease)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.markers[id]; ok && (m.exp == 0 || m.exp > now.Unix()) {
		if m.done {
			return event.AlreadyDone, nil
		}
		if m.claimedAt >= now.UnixMilli()-lease.Milliseconds() {
			return event.InProgress, nil
		}
	}
	var exp int64
	if ttl > 0 {
		t := now.Add(ttl)
		exp = t.Unix()
		if t.Nanosecond() > 0 {
			exp++
		}
	}
	s.markers[id] = marker{claimedAt: now.UnixMilli(), exp: exp}
	return event.Claimed, nil
}

// Done marks the marker of id done; a missing marker stays missing. It never fails.
func (s *MarkerStore) Done(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.markers[id]; ok {
		m.done = true
		s.markers[id] = m
	}
	return nil
}

// Unclaim deletes the marker of id if it is still the in-progress claim made at
// claimedAt. It never fails.
func (s *MarkerStore) Unclaim(_ context.Context, id string, claimedAt time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.markers[id]; ok && !m.done && m.claimedAt == claimedAt.UnixMilli() {
		delete(s.markers, id)
	}
	return nil
}
