package ingest_test

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/orderflow/orderflow/pkg/event"
	"github.com/orderflow/orderflow/pkg/idempotency"
	"github.com/orderflow/orderflow/pkg/order"
)

type fakeOrders struct {
	create func(ctx context.Context, o *order.Order) error
	get    func(ctx context.Context, id string) (*order.Order, error)
	update func(ctx context.Context, id string, fn func(*order.Order) error) (*order.Order, error)
}

func (f *fakeOrders) Create(ctx context.Context, o *order.Order) error { return f.create(ctx, o) }
func (f *fakeOrders) Get(ctx context.Context, id string) (*order.Order, error) {
	return f.get(ctx, id)
}
func (f *fakeOrders) Update(ctx context.Context, id string, fn func(*order.Order) error) (*order.Order, error) {
	return f.update(ctx, id, fn)
}

type fakeKeys struct {
	begin    func(ctx context.Context, key, bodyHash string, now time.Time) (*idempotency.Response, error)
	complete func(ctx context.Context, key string, resp idempotency.Response, now time.Time) error
	abandon  func(ctx context.Context, key string) error
}

func (f *fakeKeys) Begin(ctx context.Context, key, bodyHash string, now time.Time) (*idempotency.Response, error) {
	return f.begin(ctx, key, bodyHash, now)
}
func (f *fakeKeys) Complete(ctx context.Context, key string, resp idempotency.Response, now time.Time) error {
	return f.complete(ctx, key, resp, now)
}
func (f *fakeKeys) Abandon(ctx context.Context, key string) error { return f.abandon(ctx, key) }

type fakePublisher struct {
	publish func(ctx context.Context, evs ...event.Event) error
}

func (f *fakePublisher) Publish(ctx context.Context, evs ...event.Event) error {
	return f.publish(ctx, evs...)
}

var errDown = errors.New("dynamodb: RequestError: send request failed: dial tcp 10.0.0.1:443")

func clone(o *order.Order) *order.Order {
	c := *o
	c.Lines = slices.Clone(o.Lines)
	return &c
}

// world is an in-memory backend for the handler, built from the function-field fakes
// above; tests replace single functions to inject failures.
type world struct {
	orders    map[string]*order.Order
	keys      map[string]*idempotency.Record
	events    []event.Event
	abandoned []string
	fakeOrders
	fakeKeys
	fakePublisher
}

func newWorld() *world {
	w := &world{orders: map[string]*order.Order{}, keys: map[string]*idempotency.Record{}}
	w.create = func(_ context.Context, o *order.Order) error {
		if _, ok := w.orders[o.ID]; ok {
			return order.ErrAlreadyExists
		}
		w.orders[o.ID] = clone(o)
		return nil
	}
	w.get = func(_ context.Context, id string) (*order.Order, error) {
		o, ok := w.orders[id]
		if !ok {
			return nil, order.ErrNotFound
		}
		return clone(o), nil
	}
	w.update = func(_ context.Context, id string, fn func(*order.Order) error) (*order.Order, error) {
		o, ok := w.orders[id]
		if !ok {
			return nil, order.ErrNotFound
		}
		c := clone(o)
		if err := fn(c); err != nil {
			return nil, err
		}
		w.orders[id] = clone(c)
		return c, nil
	}
	w.begin = func(_ context.Context, key, hash string, now time.Time) (*idempotency.Response, error) {
		resp, err := idempotency.Check(w.keys[key], hash, now)
		if resp != nil || err != nil {
			return resp, err
		}
		w.keys[key] = &idempotency.Record{Key: key, BodyHash: hash, Status: idempotency.InProgress,
			LockedAt: now, ExpiresAt: now.Add(idempotency.DefaultTTL)}
		return nil, nil
	}
	w.complete = func(_ context.Context, key string, resp idempotency.Response, _ time.Time) error {
		rec, ok := w.keys[key]
		if !ok {
			return errors.New("complete of an unknown key")
		}
		rec.Status, rec.Response = idempotency.Done, resp
		return nil
	}
	w.abandon = func(_ context.Context, key string) error {
		delete(w.keys, key)
		w.abandoned = append(w.abandoned, key)
		return nil
	}
	w.publish = func(_ context.Context, evs ...event.Event) error {
		w.events = append(w.events, evs...)
		return nil
	}
	return w
}
