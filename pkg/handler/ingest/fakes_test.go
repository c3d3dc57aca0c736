package ingest_test

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/orderflow/orderflow/pkg/idempotency"
	"github.com/orderflow/orderflow/pkg/order"
)

type fakeOrders struct {
	get  func(ctx context.Context, id string) (*order.Order, error)
	page func(ctx context.Context, customerID string, limit int, token string) ([]*order.Order, string, error)
}

func (f *fakeOrders) Get(ctx context.Context, id string) (*order.Order, error) {
	return f.get(ctx, id)
}

func (f *fakeOrders) PageByCustomer(ctx context.Context, customerID string, limit int, token string) ([]*order.Order, string, error) {
	return f.page(ctx, customerID, limit, token)
}

type fakeIntake struct {
	accept func(ctx context.Context, o *order.Order, bodyHash string, resp idempotency.Response, now time.Time) (*idempotency.Response, error)
}

func (f *fakeIntake) Accept(ctx context.Context, o *order.Order, bodyHash string, resp idempotency.Response, now time.Time) (*idempotency.Response, error) {
	return f.accept(ctx, o, bodyHash, resp, now)
}

var errDown = errors.New("dynamodb: RequestError: send request failed: dial tcp 10.0.0.1:443")

func clone(o *order.Order) *order.Order {
	c := *o
	c.Lines = slices.Clone(o.Lines)
	return &c
}

// world is an in-memory backend for the handler, built from the function-field fakes
// above; tests replace single functions to inject failures. accept writes the order and
// its key's record together, as dynamo.IntakeStore's transaction does.
type world struct {
	orders  map[string]*order.Order
	keys    map[string]*idempotency.Record
	accepts int // calls of Accept
	fakeOrders
	fakeIntake
}

func newWorld() *world {
	w := &world{orders: map[string]*order.Order{}, keys: map[string]*idempotency.Record{}}
	w.get = func(_ context.Context, id string) (*order.Order, error) {
		o, ok := w.orders[id]
		if !ok {
			return nil, order.ErrNotFound
		}
		return clone(o), nil
	}
	// Pages of a customer's orders, newest first; a token is the last id of a page.
	w.page = func(_ context.Context, customer string, limit int, token string) ([]*order.Order, string, error) {
		var list []*order.Order
		for _, o := range w.orders {
			if o.CustomerID == customer {
				list = append(list, clone(o))
			}
		}
		slices.SortFunc(list, func(a, b *order.Order) int { return b.CreatedAt.Compare(a.CreatedAt) })
		if token != "" {
			i := slices.IndexFunc(list, func(o *order.Order) bool { return o.ID == token })
			if i < 0 {
				return nil, "", order.ErrBadPageToken
			}
			list = list[i+1:]
		}
		if len(list) <= limit {
			return list, "", nil
		}
		return list[:limit], list[limit-1].ID, nil
	}
	w.accept = func(_ context.Context, o *order.Order, hash string, resp idempotency.Response, now time.Time) (*idempotency.Response, error) {
		w.accepts++
		if o.IdempotencyKey != "" {
			replay, err := idempotency.Check(w.keys[o.IdempotencyKey], hash, now)
			if replay != nil || err != nil {
				return replay, err
			}
		}
		if _, ok := w.orders[o.ID]; ok {
			return nil, order.ErrAlreadyExists
		}
		w.orders[o.ID] = clone(o)
		if o.IdempotencyKey != "" {
			w.keys[o.IdempotencyKey] = &idempotency.Record{Key: o.IdempotencyKey, BodyHash: hash, Status: idempotency.Done,
				Response: resp, OrderID: o.ID, ExpiresAt: now.Add(idempotency.DefaultTTL)}
		}
		return nil, nil
	}
	return w
}
