package process_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/orderflow/orderflow/pkg/handler/process"
	"github.com/orderflow/orderflow/pkg/inventory"
	"github.com/orderflow/orderflow/pkg/order"
)

// With the sold-out short-cut, validate answers *process.SoldOutError (unwrapped: the
// state machine's Catch matches its type name) for an order with a line its catalog
// stock cannot cover, after claiming it VALIDATED; a retry of the task answers the same.
// Without it, or with stock enough, validate answers the order.
func TestValidateSoldOutShortCut(t *testing.T) {
	short := []inventory.Item{
		{SKU: "SKU-1", Price: 1250, Currency: "USD", Stock: 1}, // the order wants 2
		{SKU: "SKU-2", Price: 500, Currency: "USD", Stock: 10},
	}
	task := process.Task{Action: "validate", OrderID: orderID, ExecutionID: execA}
	for _, tc := range []struct {
		name     string
		on       bool
		items    []inventory.Item
		wantSold []string
	}{
		{"on, short", true, short, []string{"SKU-1"}},
		{"on, in stock", true, usdCatalog, nil},
		{"off, short", false, short, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(pending(), tc.items)
			e.h.SoldOutShortCut = tc.on
			for try := range 2 {
				o, err := e.h.Handle(context.Background(), task)
				if tc.wantSold == nil {
					if err != nil || o.Status != order.StatusValidated {
						t.Fatalf("try %d: %v %v, want the VALIDATED order", try+1, o, err)
					}
					continue
				}
				sold, ok := err.(*process.SoldOutError)
				if !ok || !reflect.DeepEqual(sold.SKUs, tc.wantSold) || sold.OrderID != orderID {
					t.Fatalf("try %d: %T %v, want *process.SoldOutError for %v", try+1, err, err, tc.wantSold)
				}
			}
			if got := e.store.orders[orderID]; got.Status != order.StatusValidated || got.ExecutionID != execA {
				t.Errorf("stored %s owned by %q, want VALIDATED owned by the execution", got.Status, got.ExecutionID)
			}
		})
	}
}
