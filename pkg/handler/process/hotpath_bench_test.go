package process_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"

	"github.com/orderflow/orderflow/pkg/handler/process"
	"github.com/orderflow/orderflow/pkg/logging"
	"github.com/orderflow/orderflow/pkg/order"
)

// validatePayload is the ValidateAndPrice task payload the state machine sends.
var validatePayload = []byte(`{"action":"validate","orderId":"` + orderID + `","correlationId":"corr-1"}`)

// BenchmarkHotpathValidateAndPrice measures one ValidateAndPrice task from payload bytes
// to response bytes: decode the task, load the PENDING order, price it from the catalog,
// move it to VALIDATED, encode the order as the task's output.
func BenchmarkHotpathValidateAndPrice(b *testing.B) {
	e := newEnv(pending(), usdCatalog)
	e.h.Log = slog.New(logging.NewHandler(io.Discard, slog.LevelInfo))
	fresh := pending()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		e.store.orders[orderID] = fresh // the store clones on read and write
		var t process.Task
		if err := json.Unmarshal(validatePayload, &t); err != nil {
			b.Fatal(err)
		}
		o, err := e.h.Handle(ctx, t)
		if err != nil || o.Status != order.StatusValidated {
			b.Fatal(o, err)
		}
		if _, err := json.Marshal(o); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeValidateAndPrice measures only decoding the same payload.
func BenchmarkDecodeValidateAndPrice(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		var t process.Task
		if err := json.Unmarshal(validatePayload, &t); err != nil {
			b.Fatal(err)
		}
	}
}
