package memstore

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/orderflow/orderflow/pkg/idempotency"
	"github.com/orderflow/orderflow/pkg/order"
)

// IntakeStore is an in-memory dynamo.IntakeStore: it stores new orders in an OrderStore
// and the records of their Idempotency-Keys, both under one lock (the transaction).
type IntakeStore struct {
	orders *OrderStore

	mu      sync.Mutex
	records map[string]idempotency.Record
}

// NewIntakeStore returns an IntakeStore that stores orders in orders.
func NewIntakeStore(orders *OrderStore) *IntakeStore {
	return &IntakeStore{orders: orders, records: map[string]idempotency.Record{}}
}

// Accept behaves as dynamo.IntakeStore.Accept: o alone without a key; o and the key's
// record (DONE, with resp) together with one; nothing, and the replay,
// idempotency.ErrMismatch or idempotency.ErrInProgress (wrapped), when the key holds a
// record that has not expired at now; order.ErrAlreadyExists (wrapped) for a taken id.
// Expiry is kept at DynamoDB's precision (seconds).
func (s *IntakeStore) Accept(ctx context.Context, o *order.Order, bodyHash string, resp idempotency.Response, now time.Time) (*idempotency.Response, error) {
	key := o.IdempotencyKey
	if key == "" {
		if err := s.orders.Create(ctx, o); err != nil {
			return nil, fmt.Errorf("accept order %s: %w", o.ID, err)
		}
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec, ok := s.records[key]; ok {
		replay, err := idempotency.Check(&rec, bodyHash, now)
		switch {
		case err != nil:
			return nil, fmt.Errorf("accept order %s with key %s: %w", o.ID, key, err)
		case replay != nil:
			replay.Headers = maps.Clone(replay.Headers)
			return replay, nil
		}
	}
	if err := s.orders.Create(ctx, o); err != nil {
		return nil, fmt.Errorf("accept order %s: %w", o.ID, err)
	}
	resp.Headers = maps.Clone(resp.Headers)
	s.records[key] = idempotency.Record{Key: key, BodyHash: bodyHash, Status: idempotency.Done, Response: resp,
		OrderID: o.ID, ExpiresAt: time.Unix(now.Add(idempotency.DefaultTTL).Unix(), 0)}
	return nil, nil
}
