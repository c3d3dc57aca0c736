package memstore

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/orderflow/orderflow/pkg/inventory"
)

type reservation struct {
	state inventory.ReservationState
	lines []inventory.Line
}

// InventoryStore is an in-memory dynamo.InventoryStore.
type InventoryStore struct {
	mu           sync.Mutex
	items        map[string]inventory.Item
	reservations map[string]reservation
}

// NewInventoryStore returns an InventoryStore holding items.
func NewInventoryStore(items ...inventory.Item) *InventoryStore {
	s := &InventoryStore{items: map[string]inventory.Item{}, reservations: map[string]reservation{}}
	for _, it := range items {
		s.items[it.SKU] = it
	}
	return s
}

// Put sets the price, currency and stock of a SKU. It returns an error for an
// empty SKU or a negative price or stock.
func (s *InventoryStore) Put(_ context.Context, it inventory.Item) error {
	if it.SKU == "" || it.Price < 0 || it.Stock < 0 {
		return fmt.Errorf("put sku %q: invalid item (empty sku or negative price or stock)", it.SKU)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.items[it.SKU] = it
	return nil
}

// Get returns the catalog item of sku, or inventory.ErrUnknownSKU (wrapped).
func (s *InventoryStore) Get(_ context.Context, sku string) (inventory.Item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.items[sku]
	if !ok {
		return inventory.Item{}, fmt.Errorf("get sku %s: %w", sku, inventory.ErrUnknownSKU)
	}
	return it, nil
}

// Items returns the catalog items of skus keyed by SKU; unknown SKUs are absent.
func (s *InventoryStore) Items(_ context.Context, skus []string) (map[string]inventory.Item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]inventory.Item, len(skus))
	for _, sku := range skus {
		if it, ok := s.items[sku]; ok {
			m[sku] = it
		}
	}
	return m, nil
}

// Reserve behaves as dynamo.InventoryStore.Reserve: every line or none, a
// no-op when orderID reserved before, *inventory.OutOfStockError (not
// wrapped) naming the short SKUs.
func (s *InventoryStore) Reserve(_ context.Context, orderID string, lines []inventory.Line) error {
	if err := inventory.Validate(lines); err != nil {
		return fmt.Errorf("reserve order %s: %w", orderID, err)
	}
	if len(lines) > inventory.MaxReserveLines {
		return fmt.Errorf("reserve order %s: %d lines, at most %d", orderID, len(lines), inventory.MaxReserveLines)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.reservations[orderID]; ok {
		return nil
	}
	stock := make(map[string]int64, len(lines))
	for _, l := range lines {
		if it, ok := s.items[l.SKU]; ok {
			stock[l.SKU] = it.Stock
		}
	}
	left, err := inventory.Reserve(orderID, stock, lines)
	if err != nil {
		return err
	}
	for sku, n := range left {
		it := s.items[sku]
		it.Stock = n
		s.items[sku] = it
	}
	s.reservations[orderID] = reservation{state: inventory.Reserved, lines: slices.Clone(lines)}
	return nil
}

// Release behaves as dynamo.InventoryStore.Release: it gives the reserved
// stock back once; releasing again returns nil; releasing without a
// reservation leaves a RELEASED tombstone so that a later reserve is a no-op. It
// returns an error, and changes nothing, when a reserved SKU left the catalog.
func (s *InventoryStore) Release(_ context.Context, orderID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.reservations[orderID]
	if !ok {
		s.reservations[orderID] = reservation{state: inventory.Released}
		return nil
	}
	if r.state != inventory.Reserved {
		return nil
	}
	for _, l := range r.lines {
		if _, ok := s.items[l.SKU]; !ok {
			return fmt.Errorf("release order %s: sku %s: %w", orderID, l.SKU, inventory.ErrUnknownSKU)
		}
	}
	for _, l := range r.lines {
		it := s.items[l.SKU]
		it.Stock += l.Quantity
		s.items[l.SKU] = it
	}
	r.state = inventory.Released
	s.reservations[orderID] = r
	return nil
}

// Reservation returns the state and lines of orderID's reservation, or
// inventory.ErrNoReservation (wrapped).
func (s *InventoryStore) Reservation(_ context.Context, orderID string) (inventory.ReservationState, []inventory.Line, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.reservations[orderID]
	if !ok {
		return "", nil, fmt.Errorf("reservation of order %s: %w", orderID, inventory.ErrNoReservation)
	}
	return r.state, slices.Clone(r.lines), nil
}
