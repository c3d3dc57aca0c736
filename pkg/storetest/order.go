package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/orderflow/orderflow/pkg/order"
)

var prices = map[string]int64{"A": 250, "B": 1000}

func newOrder(t *testing.T, id, customer string, created time.Time) *order.Order {
	t.Helper()
	o, err := order.New(id, order.Request{
		CustomerID: customer, Currency: "USD", PaymentToken: "tok_visa",
		Lines: []order.Line{{SKU: "A", Quantity: 2}, {SKU: "B", Quantity: 1}},
	}, "corr-"+id, created)
	if err != nil {
		t.Fatalf("order.New: %v", err)
	}
	return o
}

// sameOrder fails the test unless got and want hold the same data (times
// compared as instants).
func sameOrder(t *testing.T, what string, got, want *order.Order) {
	t.Helper()
	if got == nil || want == nil {
		t.Fatalf("%s: got %+v, want %+v", what, got, want)
	}
	g, w := *got, *want
	if !g.CreatedAt.Equal(w.CreatedAt) || !g.UpdatedAt.Equal(w.UpdatedAt) {
		t.Errorf("%s: times created %v updated %v, want %v %v", what, g.CreatedAt, g.UpdatedAt, w.CreatedAt, w.UpdatedAt)
	}
	g.CreatedAt, g.UpdatedAt, w.CreatedAt, w.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if len(g.Lines) == 0 && len(w.Lines) == 0 {
		g.Lines, w.Lines = nil, nil
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

// step is a domain change applied through Update.
type step func(o *order.Order) error

var (
	price   step = func(o *order.Order) error { return o.Price(prices, t0.Add(time.Second)) }
	reserve step = func(o *order.Order) error { return o.MarkReserved(t0.Add(2 * time.Second)) }
	pay     step = func(o *order.Order) error { return o.MarkPaid(t0.Add(3 * time.Second)) }
	confirm step = func(o *order.Order) error { return o.Confirm(t0.Add(4 * time.Second)) }
	cancel  step = func(o *order.Order) error { return o.Cancel(order.ReasonOutOfStock, t0.Add(5*time.Second)) }
	reject  step = func(o *order.Order) error { return o.Reject(order.ReasonUnknownSKU, t0.Add(5*time.Second)) }
	noop    step = func(*order.Order) error { return nil }
)

// OrderStoreContract checks an order store: conditional create, not found,
// Update applying legal transitions and rejecting illegal ones without a
// write, optimistic locking with retry and conflict, and the customer
// listing. newStore returns an empty store for each case.
func OrderStoreContract(t *testing.T, newStore func(t *testing.T) OrderStore) {
	ctx := context.Background()

	t.Run("create then get returns the order", func(t *testing.T) {
		s := newStore(t)
		o := newOrder(t, "o-1", "c-1", t0.Add(123456789*time.Nanosecond))
		if err := s.Create(ctx, o); err != nil {
			t.Fatalf("Create: %v", err)
		}
		got, err := s.Get(ctx, "o-1")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		sameOrder(t, "Get", got, o)
		got.Lines[0].Quantity = 99 // the store must not share memory with callers
		again, _ := s.Get(ctx, "o-1")
		sameOrder(t, "Get after changing the returned order", again, o)
	})

	t.Run("create twice is ErrAlreadyExists and keeps the first", func(t *testing.T) {
		s := newStore(t)
		first := newOrder(t, "o-1", "c-1", t0)
		if err := s.Create(ctx, first); err != nil {
			t.Fatalf("Create: %v", err)
		}
		second := newOrder(t, "o-1", "c-2", t0.Add(time.Minute))
		if err := s.Create(ctx, second); !errors.Is(err, order.ErrAlreadyExists) {
			t.Fatalf("second Create = %v, want ErrAlreadyExists", err)
		}
		got, err := s.Get(ctx, "o-1")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		sameOrder(t, "Get", got, first)
	})

	t.Run("get missing is ErrNotFound", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Get(ctx, "nope"); !errors.Is(err, order.ErrNotFound) {
			t.Fatalf("Get = %v, want ErrNotFound", err)
		}
	})

	t.Run("update missing is ErrNotFound without calling fn", func(t *testing.T) {
		s := newStore(t)
		called := false
		_, err := s.Update(ctx, "nope", func(*order.Order) error { called = true; return nil })
		if !errors.Is(err, order.ErrNotFound) {
			t.Fatalf("Update = %v, want ErrNotFound", err)
		}
		if called {
			t.Error("fn was called for a missing order")
		}
	})

	transitions := []struct {
		name       string
		before     []step // applied first, each must succeed
		apply      step
		wantStatus order.Status
		wantReason order.Reason
		illegal    bool
	}{
		{name: "price a pending order", apply: price, wantStatus: order.StatusValidated},
		{name: "reject a pending order", apply: reject, wantStatus: order.StatusRejected, wantReason: order.ReasonUnknownSKU},
		{name: "reserve a validated order", before: []step{price}, apply: reserve, wantStatus: order.StatusReserved},
		{name: "cancel a reserved order", before: []step{price, reserve}, apply: cancel, wantStatus: order.StatusCancelled, wantReason: order.ReasonOutOfStock},
		{name: "confirm a paid order", before: []step{price, reserve, pay}, apply: confirm, wantStatus: order.StatusConfirmed},
		{name: "confirm a pending order is illegal", apply: confirm, illegal: true},
		{name: "reserve a pending order is illegal", apply: reserve, illegal: true},
		{name: "reject a reserved order is illegal", before: []step{price, reserve}, apply: reject, illegal: true},
		{name: "cancel a confirmed order is illegal", before: []step{price, reserve, pay, confirm}, apply: cancel, illegal: true},
		{name: "price twice is illegal", before: []step{price}, apply: price, illegal: true},
	}
	for _, tt := range transitions {
		t.Run("update: "+tt.name, func(t *testing.T) {
			s := newStore(t)
			if err := s.Create(ctx, newOrder(t, "o-1", "c-1", t0)); err != nil {
				t.Fatalf("Create: %v", err)
			}
			for i, st := range tt.before {
				if _, err := s.Update(ctx, "o-1", st); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
			}
			before, err := s.Get(ctx, "o-1")
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			var fnErr error
			got, err := s.Update(ctx, "o-1", func(o *order.Order) error { fnErr = tt.apply(o); return fnErr })
			after, gerr := s.Get(ctx, "o-1")
			if gerr != nil {
				t.Fatalf("Get: %v", gerr)
			}
			if tt.illegal {
				var ite *order.IllegalTransitionError
				if !errors.As(err, &ite) || ite.OrderID != "o-1" || ite.From != before.Status {
					t.Fatalf("Update = %v, want *IllegalTransitionError from %s", err, before.Status)
				}
				if err != fnErr {
					t.Errorf("Update returned %v, not fn's error itself (%v)", err, fnErr)
				}
				if got != nil {
					t.Errorf("Update returned an order with an error: %+v", got)
				}
				sameOrder(t, "stored order after an illegal transition", after, before)
				return
			}
			if err != nil {
				t.Fatalf("Update: %v", err)
			}
			if got.Status != tt.wantStatus || got.FailureReason != tt.wantReason || got.Version != before.Version+1 {
				t.Errorf("Update = status %s reason %q version %d, want %s %q %d",
					got.Status, got.FailureReason, got.Version, tt.wantStatus, tt.wantReason, before.Version+1)
			}
			sameOrder(t, "stored order", after, got)
		})
	}

	t.Run("update keeps the priced lines and total", func(t *testing.T) {
		s := newStore(t)
		if err := s.Create(ctx, newOrder(t, "o-1", "c-1", t0)); err != nil {
			t.Fatalf("Create: %v", err)
		}
		if _, err := s.Update(ctx, "o-1", price); err != nil {
			t.Fatalf("Update: %v", err)
		}
		got, err := s.Get(ctx, "o-1")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if got.Total != 2*250+1000 || got.Lines[0].UnitPrice != 250 || got.Lines[1].UnitPrice != 1000 {
			t.Errorf("priced order = total %d lines %+v, want 1500 with unit prices 250, 1000", got.Total, got.Lines)
		}
	})

	t.Run("update retries after a lost lock and keeps both changes", func(t *testing.T) {
		s := newStore(t)
		if err := s.Create(ctx, newOrder(t, "o-1", "c-1", t0)); err != nil {
			t.Fatalf("Create: %v", err)
		}
		var seen []order.Status
		got, err := s.Update(ctx, "o-1", func(o *order.Order) error {
			seen = append(seen, o.Status)
			if len(seen) == 1 {
				// Another writer prices the order between our read and write.
				if _, err := s.Update(ctx, "o-1", price); err != nil {
					return fmt.Errorf("concurrent update: %w", err)
				}
			}
			return cancel(o)
		})
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		if want := []order.Status{order.StatusPending, order.StatusValidated}; !reflect.DeepEqual(seen, want) {
			t.Errorf("fn saw statuses %v, want %v (one retry on the re-read order)", seen, want)
		}
		stored, err := s.Get(ctx, "o-1")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		sameOrder(t, "stored order", stored, got)
		if stored.Status != order.StatusCancelled || stored.Version != 3 || stored.Total != 1500 {
			t.Errorf("stored = status %s version %d total %d, want CANCELLED 3 1500 (the concurrent change kept)",
				stored.Status, stored.Version, stored.Total)
		}
	})

	t.Run("update that loses every lock is ErrConflict", func(t *testing.T) {
		s := newStore(t)
		if err := s.Create(ctx, newOrder(t, "o-1", "c-1", t0)); err != nil {
			t.Fatalf("Create: %v", err)
		}
		calls := 0
		_, err := s.Update(ctx, "o-1", func(o *order.Order) error {
			calls++
			if _, err := s.Update(ctx, "o-1", noop); err != nil {
				return fmt.Errorf("concurrent update: %w", err)
			}
			return cancel(o)
		})
		if !errors.Is(err, order.ErrConflict) {
			t.Fatalf("Update = %v, want ErrConflict", err)
		}
		if calls != order.UpdateAttempts {
			t.Errorf("fn called %d times, want %d", calls, order.UpdateAttempts)
		}
		stored, err := s.Get(ctx, "o-1")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if stored.Status != order.StatusPending || stored.Version != int64(1+calls) {
			t.Errorf("stored = status %s version %d, want PENDING %d (only the concurrent writes)",
				stored.Status, stored.Version, 1+calls)
		}
	})

	t.Run("concurrent updates are each applied once or conflict", func(t *testing.T) {
		s := newStore(t)
		if err := s.Create(ctx, newOrder(t, "o-1", "c-1", t0)); err != nil {
			t.Fatalf("Create: %v", err)
		}
		const n = 6
		var mu sync.Mutex
		applied, conflicts := 0, 0
		concurrently(n, func(int) {
			_, err := s.Update(ctx, "o-1", noop)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				applied++
			case errors.Is(err, order.ErrConflict):
				conflicts++
			default:
				t.Errorf("Update: %v", err)
			}
		})
		stored, err := s.Get(ctx, "o-1")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if applied == 0 || applied+conflicts != n || stored.Version != int64(1+applied) {
			t.Errorf("applied %d, conflicts %d, stored version %d: want applied+conflicts = %d and version = 1+applied",
				applied, conflicts, stored.Version, n)
		}
	})

	t.Run("list by customer is newest first and limited", func(t *testing.T) {
		s := newStore(t)
		// Fractions of a second on purpose: newest first must hold within a second.
		created := map[string]time.Time{
			"o-1": t0,
			"o-2": t0.Add(time.Second),
			"o-3": t0.Add(1500 * time.Millisecond),
			"o-4": t0.Add(3 * time.Second),
		}
		for _, id := range []string{"o-3", "o-1", "o-4", "o-2"} {
			customer := "c-1"
			if id == "o-4" {
				customer = "c-2"
			}
			if err := s.Create(ctx, newOrder(t, id, customer, created[id])); err != nil {
				t.Fatalf("Create %s: %v", id, err)
			}
		}
		tests := []struct {
			name     string
			customer string
			limit    int32
			want     []string
		}{
			{name: "all", customer: "c-1", want: []string{"o-3", "o-2", "o-1"}},
			{name: "limit 2", customer: "c-1", limit: 2, want: []string{"o-3", "o-2"}},
			{name: "limit above count", customer: "c-1", limit: 10, want: []string{"o-3", "o-2", "o-1"}},
			{name: "other customer", customer: "c-2", want: []string{"o-4"}},
			{name: "no orders", customer: "c-9", want: nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				list, err := s.ListByCustomer(ctx, tt.customer, tt.limit)
				if err != nil {
					t.Fatalf("ListByCustomer: %v", err)
				}
				var ids []string
				for _, o := range list {
					ids = append(ids, o.ID)
					if o.CustomerID != tt.customer {
						t.Errorf("order %s of customer %s listed for %s", o.ID, o.CustomerID, tt.customer)
					}
				}
				if !reflect.DeepEqual(ids, tt.want) {
					t.Errorf("ids = %v, want %v", ids, tt.want)
				}
			})
		}

		// Pages: walking the tokens lists every order once, newest first, and the last
		// page says so (no token) even when it is full.
		for _, size := range []int{1, 2, 3} {
			t.Run(fmt.Sprintf("pages of %d", size), func(t *testing.T) {
				var ids []string
				token, pages := "", 0
				for {
					page, next, err := s.PageByCustomer(ctx, "c-1", size, token)
					if err != nil {
						t.Fatalf("PageByCustomer after %q: %v", token, err)
					}
					if len(page) > size || (next != "" && len(page) != size) {
						t.Fatalf("page %d: %d orders, next %q; want at most %d, and %d when a next page follows", pages, len(page), next, size, size)
					}
					for _, o := range page {
						ids = append(ids, o.ID)
					}
					if pages++; next == "" || pages > 5 {
						break
					}
					token = next
				}
				if want := []string{"o-3", "o-2", "o-1"}; !reflect.DeepEqual(ids, want) {
					t.Errorf("ids = %v, want %v", ids, want)
				}
				if want := (3 + size - 1) / size; pages != want {
					t.Errorf("%d pages, want %d", pages, want)
				}
			})
		}
		t.Run("bad page token", func(t *testing.T) {
			if _, _, err := s.PageByCustomer(ctx, "c-1", 2, "not-a-token"); !errors.Is(err, order.ErrBadPageToken) {
				t.Errorf("err = %v, want order.ErrBadPageToken", err)
			}
		})
		t.Run("another customer's token", func(t *testing.T) {
			_, token, err := s.PageByCustomer(ctx, "c-1", 1, "")
			if err != nil || token == "" {
				t.Fatalf("first page: token %q, %v", token, err)
			}
			page, _, err := s.PageByCustomer(ctx, "c-2", 10, token)
			if err != nil && !errors.Is(err, order.ErrBadPageToken) {
				t.Fatalf("err = %v", err)
			}
			for _, o := range page {
				if o.CustomerID != "c-2" {
					t.Errorf("c-2 given c-1's token got c-1's order %s", o.ID)
				}
			}
		})
	})
}
