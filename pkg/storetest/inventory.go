package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/orderflow/orderflow/pkg/inventory"
)

// stockOf fails the test unless the stock of each SKU is as in want.
func stockOf(t *testing.T, s InventoryStore, want map[string]int64) {
	t.Helper()
	for sku, n := range want {
		it, err := s.Get(context.Background(), sku)
		if err != nil {
			t.Fatalf("Get %s: %v", sku, err)
		}
		if it.Stock != n {
			t.Errorf("stock of %s = %d, want %d", sku, it.Stock, n)
		}
	}
}

// InventoryStoreContract checks an inventory store: the catalog, reservations
// of all lines or none, idempotent reserve and release, and no oversell under
// concurrent reservers. newStore returns an empty store for each case.
func InventoryStoreContract(t *testing.T, newStore func(t *testing.T) InventoryStore) {
	ctx := context.Background()
	catalog := []inventory.Item{
		{SKU: "A", Price: 250, Currency: "USD", Stock: 5},
		{SKU: "B", Price: 1000, Currency: "USD", Stock: 3},
		{SKU: "C", Price: 99, Currency: "USD", Stock: 0},
	}
	stocked := func(t *testing.T) InventoryStore {
		t.Helper()
		s := newStore(t)
		for _, it := range catalog {
			if err := s.Put(ctx, it); err != nil {
				t.Fatalf("Put %s: %v", it.SKU, err)
			}
		}
		return s
	}
	noReservation := func(t *testing.T, s InventoryStore, orderID string) {
		t.Helper()
		if _, _, err := s.Reservation(ctx, orderID); !errors.Is(err, inventory.ErrNoReservation) {
			t.Errorf("Reservation(%s) = %v, want ErrNoReservation", orderID, err)
		}
	}
	// holdsNothing: after out of stock, no reservation, or one SHORT (the conditional
	// store's record of the answer).
	holdsNothing := func(t *testing.T, s InventoryStore, orderID string) {
		t.Helper()
		state, _, err := s.Reservation(ctx, orderID)
		if !errors.Is(err, inventory.ErrNoReservation) && (err != nil || state != inventory.Short) {
			t.Errorf("Reservation(%s) = %s, %v; want none or SHORT", orderID, state, err)
		}
	}

	t.Run("catalog", func(t *testing.T) {
		s := stocked(t)
		got, err := s.Get(ctx, "A")
		if err != nil || got != catalog[0] {
			t.Errorf("Get A = %+v, %v; want %+v", got, err, catalog[0])
		}
		if _, err := s.Get(ctx, "Z"); !errors.Is(err, inventory.ErrUnknownSKU) {
			t.Errorf("Get Z = %v, want ErrUnknownSKU", err)
		}
		items, err := s.Items(ctx, []string{"B", "Z", "A", "B"})
		if err != nil {
			t.Fatalf("Items: %v", err)
		}
		want := map[string]inventory.Item{"A": catalog[0], "B": catalog[1]}
		if !reflect.DeepEqual(items, want) {
			t.Errorf("Items = %+v, want %+v", items, want)
		}
		if items, err := s.Items(ctx, nil); err != nil || len(items) != 0 {
			t.Errorf("Items(nil) = %v, %v; want empty", items, err)
		}
		changed := inventory.Item{SKU: "A", Price: 300, Currency: "EUR", Stock: 1}
		if err := s.Put(ctx, changed); err != nil {
			t.Fatalf("Put: %v", err)
		}
		if got, _ := s.Get(ctx, "A"); got != changed {
			t.Errorf("Get A after Put = %+v, want %+v", got, changed)
		}
		if err := s.Put(ctx, inventory.Item{SKU: "N", Stock: -1}); err == nil {
			t.Error("Put with negative stock succeeded")
		}
	})

	reserveCases := []struct {
		name      string
		lines     []inventory.Line
		wantShort []string // nil: the reservation succeeds
		wantStock map[string]int64
	}{
		{name: "all lines", lines: []inventory.Line{{SKU: "A", Quantity: 2}, {SKU: "B", Quantity: 3}},
			wantStock: map[string]int64{"A": 3, "B": 0, "C": 0}},
		{name: "exactly the stock", lines: []inventory.Line{{SKU: "A", Quantity: 5}},
			wantStock: map[string]int64{"A": 0, "B": 3}},
		{name: "one short line takes nothing", lines: []inventory.Line{{SKU: "A", Quantity: 2}, {SKU: "B", Quantity: 4}},
			wantShort: []string{"B"}, wantStock: map[string]int64{"A": 5, "B": 3}},
		{name: "every short line is named", lines: []inventory.Line{{SKU: "C", Quantity: 1}, {SKU: "A", Quantity: 1}, {SKU: "B", Quantity: 9}},
			wantShort: []string{"C", "B"}, wantStock: map[string]int64{"A": 5, "B": 3, "C": 0}},
		{name: "unknown sku is out of stock", lines: []inventory.Line{{SKU: "A", Quantity: 1}, {SKU: "Z", Quantity: 1}},
			wantShort: []string{"Z"}, wantStock: map[string]int64{"A": 5}},
	}
	for _, tt := range reserveCases {
		t.Run("reserve: "+tt.name, func(t *testing.T) {
			s := stocked(t)
			err := s.Reserve(ctx, "o-1", tt.lines)
			if tt.wantShort == nil {
				if err != nil {
					t.Fatalf("Reserve: %v", err)
				}
				state, lines, err := s.Reservation(ctx, "o-1")
				if err != nil || state != inventory.Reserved || !reflect.DeepEqual(lines, tt.lines) {
					t.Errorf("Reservation = %s %+v %v, want RESERVED %+v", state, lines, err, tt.lines)
				}
			} else {
				var oos *inventory.OutOfStockError
				if !errors.As(err, &oos) {
					t.Fatalf("Reserve = %v, want *OutOfStockError", err)
				}
				if oos.OrderID != "o-1" || !reflect.DeepEqual(oos.SKUs, tt.wantShort) {
					t.Errorf("OutOfStockError = %+v, want order o-1 skus %v", oos, tt.wantShort)
				}
				holdsNothing(t, s, "o-1")
				// The command redelivered: out of stock again, nothing taken.
				if err := s.Reserve(ctx, "o-1", tt.lines); !errors.As(err, &oos) || !reflect.DeepEqual(oos.SKUs, tt.wantShort) {
					t.Errorf("Reserve again = %v, want *OutOfStockError for %v", err, tt.wantShort)
				}
			}
			stockOf(t, s, tt.wantStock)
		})
	}

	t.Run("reserve rejects invalid lines and changes nothing", func(t *testing.T) {
		s := stocked(t)
		for name, lines := range map[string][]inventory.Line{
			"no lines":      nil,
			"zero quantity": {{SKU: "A", Quantity: 0}},
			"duplicate sku": {{SKU: "A", Quantity: 1}, {SKU: "A", Quantity: 1}},
		} {
			err := s.Reserve(ctx, "o-1", lines)
			var oos *inventory.OutOfStockError
			if err == nil || errors.As(err, &oos) {
				t.Errorf("%s: Reserve = %v, want a validation error", name, err)
			}
		}
		noReservation(t, s, "o-1")
		stockOf(t, s, map[string]int64{"A": 5})
	})

	t.Run("reserve twice takes the stock once", func(t *testing.T) {
		s := stocked(t)
		lines := []inventory.Line{{SKU: "A", Quantity: 2}}
		for i := range 2 {
			if err := s.Reserve(ctx, "o-1", lines); err != nil {
				t.Fatalf("Reserve %d: %v", i+1, err)
			}
		}
		// A redelivered command with other lines is still the same reservation.
		if err := s.Reserve(ctx, "o-1", []inventory.Line{{SKU: "B", Quantity: 1}}); err != nil {
			t.Fatalf("Reserve with other lines: %v", err)
		}
		stockOf(t, s, map[string]int64{"A": 3, "B": 3})
	})

	t.Run("release restores the stock once", func(t *testing.T) {
		s := stocked(t)
		if err := s.Reserve(ctx, "o-1", []inventory.Line{{SKU: "A", Quantity: 2}, {SKU: "B", Quantity: 1}}); err != nil {
			t.Fatalf("Reserve: %v", err)
		}
		if err := s.Reserve(ctx, "o-2", []inventory.Line{{SKU: "A", Quantity: 1}}); err != nil {
			t.Fatalf("Reserve: %v", err)
		}
		for i := range 2 {
			if err := s.Release(ctx, "o-1"); err != nil {
				t.Fatalf("Release %d: %v", i+1, err)
			}
			stockOf(t, s, map[string]int64{"A": 4, "B": 3})
		}
		state, _, err := s.Reservation(ctx, "o-1")
		if err != nil || state != inventory.Released {
			t.Errorf("Reservation o-1 = %s, %v; want RELEASED", state, err)
		}
		if state, _, _ := s.Reservation(ctx, "o-2"); state != inventory.Reserved {
			t.Errorf("Reservation o-2 = %s, want RESERVED (untouched)", state)
		}
	})

	t.Run("release without a reservation leaves a tombstone; a late reserve takes nothing", func(t *testing.T) {
		s := stocked(t)
		for i := range 2 {
			if err := s.Release(ctx, "o-1"); err != nil {
				t.Fatalf("Release %d: %v", i+1, err)
			}
		}
		state, lines, err := s.Reservation(ctx, "o-1")
		if err != nil || state != inventory.Released || len(lines) != 0 {
			t.Errorf("Reservation o-1 = %s, %v, %v; want RELEASED with no lines", state, lines, err)
		}
		stockOf(t, s, map[string]int64{"A": 5, "B": 3, "C": 0})
		// The reserve command arrives after the compensation ran.
		if err := s.Reserve(ctx, "o-1", []inventory.Line{{SKU: "A", Quantity: 2}}); err != nil {
			t.Fatalf("late Reserve: %v", err)
		}
		stockOf(t, s, map[string]int64{"A": 5, "B": 3, "C": 0})
		noReservation(t, s, "o-2")
	})

	t.Run("concurrent reservers never oversell", func(t *testing.T) {
		s := newStore(t)
		const stock, reservers = 7, 20
		if err := s.Put(ctx, inventory.Item{SKU: "HOT", Price: 100, Currency: "USD", Stock: stock}); err != nil {
			t.Fatalf("Put: %v", err)
		}
		var mu sync.Mutex
		ok, short := 0, 0
		concurrently(reservers, func(i int) {
			err := s.Reserve(ctx, fmt.Sprintf("o-%d", i), []inventory.Line{{SKU: "HOT", Quantity: 1}})
			var oos *inventory.OutOfStockError
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.As(err, &oos):
				short++
			default:
				t.Errorf("Reserve o-%d: %v", i, err)
			}
		})
		if ok != stock || short != reservers-stock {
			t.Errorf("%d reservations and %d out of stock, want %d and %d", ok, short, stock, reservers-stock)
		}
		stockOf(t, s, map[string]int64{"HOT": 0})
	})

	t.Run("concurrent releases restore once", func(t *testing.T) {
		s := stocked(t)
		if err := s.Reserve(ctx, "o-1", []inventory.Line{{SKU: "A", Quantity: 4}}); err != nil {
			t.Fatalf("Reserve: %v", err)
		}
		concurrently(5, func(int) {
			if err := s.Release(ctx, "o-1"); err != nil {
				t.Errorf("Release: %v", err)
			}
		})
		stockOf(t, s, map[string]int64{"A": 5})
	})
}
