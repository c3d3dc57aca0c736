package memstore

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/orderflow/orderflow/pkg/idempotency"
)

// IdempotencyStore is an in-memory dynamo.IdempotencyStore.
type IdempotencyStore struct {
	mu      sync.Mutex
	records map[string]idempotency.Record
}

// NewIdempotencyStore returns an empty IdempotencyStore.
func NewIdempotencyStore() *IdempotencyStore {
	return &IdempotencyStore{records: map[string]idempotency.Record{}}
}

// Begin behaves as dynamo.IdempotencyStore.Begin: (nil, nil) when the caller
// holds the lock, the stored response for a replay, idempotency.ErrMismatch or
// idempotency.ErrInProgress (wrapped); expired records and stale locks are
// taken over. Times are kept at DynamoDB's precision (lock in milliseconds,
// expiry in seconds).
func (s *IdempotencyStore) Begin(_ context.Context, key, bodyHash string, now time.Time) (*idempotency.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec, ok := s.records[key]; ok {
		resp, err := idempotency.Check(&rec, bodyHash, now)
		switch {
		case err != nil:
			return nil, fmt.Errorf("begin idempotency key %s: %w", key, err)
		case resp != nil:
			resp.Headers = maps.Clone(resp.Headers)
			return resp, nil
		}
	}
	s.records[key] = idempotency.Record{
		Key:       key,
		BodyHash:  bodyHash,
		Status:    idempotency.InProgress,
		LockedAt:  time.UnixMilli(now.UnixMilli()),
		ExpiresAt: time.Unix(now.Add(idempotency.DefaultTTL).Unix(), 0),
	}
	return nil, nil
}

// Complete stores resp for key and marks it DONE until idempotency.DefaultTTL
// after now. It returns an error when key is not IN_PROGRESS.
func (s *IdempotencyStore) Complete(_ context.Context, key string, resp idempotency.Response, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.records[key]
	if !ok || rec.Status != idempotency.InProgress {
		return fmt.Errorf("complete idempotency key %s: no request in progress", key)
	}
	rec.Status = idempotency.Done
	rec.Response = resp
	rec.Response.Headers = maps.Clone(resp.Headers)
	rec.ExpiresAt = time.Unix(now.Add(idempotency.DefaultTTL).Unix(), 0)
	s.records[key] = rec
	return nil
}

// Abandon deletes the IN_PROGRESS record of key; a missing or completed
// record is left as it is, and Abandon returns nil.
func (s *IdempotencyStore) Abandon(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec, ok := s.records[key]; ok && rec.Status == idempotency.InProgress {
		delete(s.records, key)
	}
	return nil
}
