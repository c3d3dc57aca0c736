package process_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/orderflow/orderflow/events/samples"
	"github.com/orderflow/orderflow/pkg/handler/process"
	"github.com/orderflow/orderflow/pkg/order"
)

// TestEventFiles runs every events/process-*.json through the handler. A new file must
// get an entry in the table below, so no sample event goes untested.
func TestEventFiles(t *testing.T) {
	type outcome struct {
		stored     *order.Order // the order before the task
		wantStatus order.Status
	}
	want := map[string]outcome{
		"process-validate.json":  {pending(), order.StatusValidated},
		"process-authorize.json": {inStatus(order.StatusValidated, "tok_visa"), order.StatusConfirmed},
		"process-cancel.json":    {inStatus(order.StatusReserved, "tok_decline"), order.StatusCancelled},
		"process-reject.json":    {pending(), order.StatusRejected},
	}
	samples.Run(t, "process", want, func(t *testing.T, raw []byte, tt outcome) {
		// Round-trip: every field of the file must survive decoding into Task, so a
		// misspelt key fails here instead of being silently ignored.
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		var task process.Task
		if err := dec.Decode(&task); err != nil {
			t.Fatalf("decode into process.Task: %v", err)
		}
		if task.OrderID != orderID {
			t.Fatalf("orderId = %q, want the fixture order %s", task.OrderID, orderID)
		}
		e := newEnv(tt.stored, usdCatalog)
		got, errType, msg := run(t, e.h, task)
		if errType != "" {
			t.Fatalf("errorType %s: %s", errType, msg)
		}
		if got.Status != tt.wantStatus || e.store.orders[orderID].Status != tt.wantStatus {
			t.Errorf("status returned %s stored %s, want %s", got.Status, e.store.orders[orderID].Status, tt.wantStatus)
		}
		if e.store.writes != 1 {
			t.Errorf("%d writes, want 1", e.store.writes)
		}
	})
}
