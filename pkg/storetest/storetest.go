// Package storetest holds the contract test suites of orderflow's stores: one
// function per store that checks, through the store's methods only, the
// behaviour the handlers rely on. The same suite runs against the in-memory
// fakes (pkg/memstore, unit tests) and against the DynamoDB stores on the
// emulator (pkg/dynamo, integration tests), so the fakes cannot drift from
// the real thing.
package storetest

import (
	"context"
	"time"

	"github.com/orderflow/orderflow/pkg/event"
	"github.com/orderflow/orderflow/pkg/idempotency"
	"github.com/orderflow/orderflow/pkg/inventory"
	"github.com/orderflow/orderflow/pkg/order"
)

// OrderStore is the order store under test (dynamo.OrderStore, memstore.OrderStore).
type OrderStore interface {
	Create(ctx context.Context, o *order.Order) error
	Get(ctx context.Context, id string) (*order.Order, error)
	Update(ctx context.Context, id string, fn func(*order.Order) error) (*order.Order, error)
	ListByCustomer(ctx context.Context, customerID string, limit int32) ([]*order.Order, error)
	PageByCustomer(ctx context.Context, customerID string, limit int, pageToken string) ([]*order.Order, string, error)
}

// InventoryStore is the inventory store under test.
type InventoryStore interface {
	Put(ctx context.Context, it inventory.Item) error
	Get(ctx context.Context, sku string) (inventory.Item, error)
	Items(ctx context.Context, skus []string) (map[string]inventory.Item, error)
	Reserve(ctx context.Context, orderID string, lines []inventory.Line) error
	Release(ctx context.Context, orderID string) error
	Reservation(ctx context.Context, orderID string) (inventory.ReservationState, []inventory.Line, error)
}

// IntakeStore is the intake store under test: new orders with their Idempotency-Key.
type IntakeStore interface {
	Accept(ctx context.Context, o *order.Order, bodyHash string, resp idempotency.Response, now time.Time) (*idempotency.Response, error)
}

// MarkerStore is the processed-event marker store under test.
type MarkerStore interface {
	Claim(ctx context.Context, id string, lease, ttl time.Duration, now time.Time) (event.ClaimResult, error)
	Done(ctx context.Context, id string) error
	Unclaim(ctx context.Context, id string, claimedAt time.Time) error
}

// MetricsStore is the metrics store under test.
type MetricsStore interface {
	Apply(ctx context.Context, eventID string, d event.MetricDelta) (bool, error)
	Minute(ctx context.Context, minute time.Time) (event.MinuteMetrics, error)
}

// t0 is the suites' clock: whole seconds, so that every store keeps it exactly.
var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// concurrently runs fn(i) for i in [0, n) on n goroutines released at once,
// and waits for all of them.
func concurrently(n int, fn func(i int)) {
	start := make(chan struct{})
	done := make(chan struct{}, n)
	for i := range n {
		go func() {
			defer func() { done <- struct{}{} }()
			<-start
			fn(i)
		}()
	}
	close(start)
	for range n {
		<-done
	}
}
