package process_test

import (
	"context"
	"testing"

	"github.com/orderflow/orderflow/pkg/handler/process"
	"github.com/orderflow/orderflow/pkg/order"
)

// BenchmarkValidateAndAuthorize measures the handler's own cost of the two process tasks
// of one order (pricing, transitions, payment simulation) with in-memory stores.
func BenchmarkValidateAndAuthorize(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		e := newEnv(pending(), usdCatalog)
		if o, err := e.h.Handle(ctx, process.Task{Action: "validate", OrderID: orderID}); err != nil || o.Status != order.StatusValidated {
			b.Fatal(err)
		}
		if o, err := e.h.Handle(ctx, process.Task{Action: "authorize", OrderID: orderID}); err != nil || o.Status != order.StatusPaid {
			b.Fatal(err)
		}
	}
}
