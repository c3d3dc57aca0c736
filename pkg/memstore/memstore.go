// Package memstore holds in-memory implementations of the stores of
// pkg/dynamo, with the same semantics and the same errors: the fakes for unit
// tests of the handlers, checked against the same contract suites
// (pkg/storetest) as the DynamoDB stores. They are safe for concurrent use.
package memstore

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/orderflow/orderflow/pkg/order"
)

// OrderStore is an in-memory dynamo.OrderStore.
type OrderStore struct {
	mu     sync.Mutex
	orders map[string]*order.Order
}

// NewOrderStore returns an empty OrderStore.
func NewOrderStore() *OrderStore { return &OrderStore{orders: map[string]*order.Order{}} }

func clone(o *order.Order) *order.Order {
	c := *o
	c.Lines = slices.Clone(o.Lines)
	return &c
}

// Create stores a copy of o. It returns order.ErrAlreadyExists (wrapped) when
// an order with the same id exists.
func (s *OrderStore) Create(_ context.Context, o *order.Order) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.orders[o.ID]; ok {
		return fmt.Errorf("create order %s: %w", o.ID, order.ErrAlreadyExists)
	}
	s.orders[o.ID] = clone(o)
	return nil
}

// Get returns a copy of the order with id, or order.ErrNotFound (wrapped).
func (s *OrderStore) Get(_ context.Context, id string) (*order.Order, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[id]
	if !ok {
		return nil, fmt.Errorf("get order %s: %w", id, order.ErrNotFound)
	}
	return clone(o), nil
}

// Update behaves as dynamo.OrderStore.Update: fn runs on a copy without the
// lock held (so it may itself use the store), and the copy is stored only if
// the version did not change meanwhile; after order.UpdateAttempts lost
// locks it returns order.ErrConflict (wrapped). fn's error is returned as it
// is. It returns order.ErrNotFound (wrapped) when there is no such order.
func (s *OrderStore) Update(ctx context.Context, id string, fn func(*order.Order) error) (*order.Order, error) {
	for range order.UpdateAttempts {
		o, err := s.Get(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("update order %s: %w", id, order.ErrNotFound)
		}
		read := o.Version
		if err := fn(o); err != nil {
			return nil, err
		}
		if o.ID != id {
			return nil, fmt.Errorf("update order %s: the update changed the order id to %q", id, o.ID)
		}
		o.Version = read + 1
		s.mu.Lock()
		cur, ok := s.orders[id]
		if ok && cur.Version == read {
			s.orders[id] = clone(o)
			s.mu.Unlock()
			return o, nil
		}
		s.mu.Unlock()
	}
	return nil, fmt.Errorf("update order %s: %d attempts: %w", id, order.UpdateAttempts, order.ErrConflict)
}

// ListByCustomer returns up to limit orders of a customer, newest first; all
// of them when limit is 0 or less.
func (s *OrderStore) ListByCustomer(_ context.Context, customerID string, limit int32) ([]*order.Order, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.byCustomer(customerID)
	if limit > 0 && int(limit) < len(list) {
		list = list[:limit]
	}
	return list, nil
}

// PageByCustomer returns up to limit orders of a customer (at least 1), newest first,
// after the order whose id pageToken is, and the token of the next page ("" when there
// is none), as dynamo.OrderStore.PageByCustomer does. It returns order.ErrBadPageToken
// (wrapped) when pageToken is not the id of an order.
func (s *OrderStore) PageByCustomer(_ context.Context, customerID string, limit int, pageToken string) ([]*order.Order, string, error) {
	limit = max(limit, 1)
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.byCustomer(customerID)
	if pageToken != "" {
		after, ok := s.orders[pageToken]
		if !ok {
			return nil, "", fmt.Errorf("list orders of customer %s: %w", customerID, order.ErrBadPageToken)
		}
		i := sort.Search(len(list), func(i int) bool { return newer(after, list[i]) })
		list = list[i:]
	}
	if len(list) <= limit {
		return list, "", nil
	}
	return list[:limit], list[limit-1].ID, nil
}

// byCustomer returns copies of a customer's orders, newest first (the GSI's order).
// The caller holds s.mu.
func (s *OrderStore) byCustomer(customerID string) []*order.Order {
	var list []*order.Order
	for _, o := range s.orders {
		if o.CustomerID == customerID {
			list = append(list, clone(o))
		}
	}
	sort.Slice(list, func(i, j int) bool { return newer(list[i], list[j]) })
	return list
}

// newer orders as the customer-index does, newest first (ties by order id).
func newer(a, b *order.Order) bool {
	if !a.CreatedAt.Equal(b.CreatedAt) {
		return a.CreatedAt.After(b.CreatedAt)
	}
	return a.ID > b.ID
}
