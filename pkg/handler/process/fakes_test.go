package process_test

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/orderflow/orderflow/pkg/inventory"
	"github.com/orderflow/orderflow/pkg/order"
)

type fakeOrders struct {
	get    func(ctx context.Context, id string) (*order.Order, error)
	update func(ctx context.Context, id string, fn func(*order.Order) error) (*order.Order, error)
}

func (f *fakeOrders) Get(ctx context.Context, id string) (*order.Order, error) { return f.get(ctx, id) }
func (f *fakeOrders) Update(ctx context.Context, id string, fn func(*order.Order) error) (*order.Order, error) {
	return f.update(ctx, id, fn)
}

type fakeCatalog struct {
	items func(ctx context.Context, skus []string) (map[string]inventory.Item, error)
}

func (f *fakeCatalog) Items(ctx context.Context, skus []string) (map[string]inventory.Item, error) {
	return f.items(ctx, skus)
}

// store is an in-memory order store built from function fields; writes counts the
// orders written by Update.
type store struct {
	fakeOrders
	orders map[string]*order.Order
	writes int
}

func clone(o *order.Order) *order.Order {
	c := *o
	c.Lines = slices.Clone(o.Lines)
	return &c
}

func newStore(orders ...*order.Order) *store {
	s := &store{orders: map[string]*order.Order{}}
	for _, o := range orders {
		s.orders[o.ID] = clone(o)
	}
	s.get = func(_ context.Context, id string) (*order.Order, error) {
		o, ok := s.orders[id]
		if !ok {
			return nil, order.ErrNotFound
		}
		return clone(o), nil
	}
	s.update = func(_ context.Context, id string, fn func(*order.Order) error) (*order.Order, error) {
		o, ok := s.orders[id]
		if !ok {
			return nil, order.ErrNotFound
		}
		c := clone(o)
		if err := fn(c); err != nil {
			return nil, err
		}
		s.orders[id] = clone(c)
		s.writes++
		return c, nil
	}
	return s
}

func catalog(items ...inventory.Item) *fakeCatalog {
	return &fakeCatalog{items: func(_ context.Context, skus []string) (map[string]inventory.Item, error) {
		out := map[string]inventory.Item{}
		for _, it := range items {
			if slices.Contains(skus, it.SKU) {
				out[it.SKU] = it
			}
		}
		return out, nil
	}}
}

var (
	t0      = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	t1      = t0.Add(time.Minute)
	errDown = errors.New("service unavailable")
)

const orderID = "01956a1e-9c00-7abc-8def-0123456789ab"

// pending returns a PENDING order with two lines in USD.
func pending() *order.Order {
	o, err := order.New(orderID, order.Request{
		CustomerID:   "cust-1",
		Currency:     "USD",
		Lines:        []order.Line{{SKU: "SKU-1", Quantity: 2}, {SKU: "SKU-2", Quantity: 1}},
		PaymentToken: "tok_visa",
	}, "corr-1", t0)
	if err != nil {
		panic(err)
	}
	return o
}

// inStatus returns the pending order moved along the legal path to s.
func inStatus(s order.Status, token string) *order.Order {
	o := pending()
	o.PaymentToken = token
	steps := map[order.Status]func() error{
		order.StatusValidated: func() error { return o.Price(prices, t0) },
		order.StatusReserved:  func() error { return o.MarkReserved(t0) },
		order.StatusPaid:      func() error { return o.MarkPaid(t0) },
		order.StatusConfirmed: func() error { return o.Confirm(t0) },
	}
	switch s {
	case order.StatusRejected:
		_ = o.Reject(order.ReasonUnknownSKU, t0)
	case order.StatusCancelled:
		_ = o.Cancel(order.ReasonOutOfStock, t0)
	default:
		for _, st := range []order.Status{order.StatusValidated, order.StatusReserved, order.StatusPaid, order.StatusConfirmed} {
			if o.Status == s {
				break
			}
			if err := steps[st](); err != nil {
				panic(err)
			}
		}
	}
	if o.Status != s {
		panic("cannot reach " + string(s))
	}
	return o
}

// owned returns the order in status s, owned by execution.
func owned(s order.Status, execution string) *order.Order {
	o := inStatus(s, "tok_visa")
	o.ExecutionID = execution
	return o
}

// Execution ids as Step Functions names them ($$.Execution.Id).
const (
	execA = "arn:aws:states:us-east-1:123456789012:execution:order-processing:exec-a"
	execB = "arn:aws:states:us-east-1:123456789012:execution:order-processing:exec-b"
)

var prices = map[string]int64{"SKU-1": 1250, "SKU-2": 500}

var usdCatalog = []inventory.Item{
	{SKU: "SKU-1", Price: 1250, Currency: "USD", Stock: 10},
	{SKU: "SKU-2", Price: 500, Currency: "USD", Stock: 10},
}
