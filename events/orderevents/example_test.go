package orderevents_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/events/orderevents"
	"github.com/orderflow/orderflow/events/samples"
)

// sample reads events/<name>.json, a sample event of the repository.
func sample(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(samples.Dir(), name+".json"))
}

// A Lambda function subscribed to the bus by a rule decodes each event, skips kinds it
// does not handle and deliveries it has seen, and acts once per state change.
func Example() {
	seen := map[string]bool{} // a consumer keeps this in its own store (e.g. a conditional put)
	handle := func(e events.EventBridgeEvent) error {
		ev, err := orderevents.Decode(e)
		var unknown *orderevents.UnknownDetailTypeError
		if errors.As(err, &unknown) {
			return nil // a kind of event this consumer does not handle
		}
		if err != nil {
			return err // a schema violation or another major version: fail, so it lands in the DLQ
		}
		if seen[ev.DedupeKey()] {
			fmt.Println("duplicate", ev.DedupeKey())
			return nil
		}
		seen[ev.DedupeKey()] = true
		switch ev.DetailType {
		case orderevents.OrderConfirmed:
			fmt.Printf("confirmed %s: %d %s in minor units, %d lines\n", ev.Data.OrderID, ev.Data.Total, ev.Data.Currency, len(ev.Data.Lines))
		case orderevents.OrderCancelled, orderevents.OrderRejected:
			fmt.Printf("%s %s: %s\n", ev.Data.Status, ev.Data.OrderID, ev.Data.FailureReason)
		}
		return nil
	}
	// The sample events in events/ (the ones `sam local invoke NotifyFunction` uses); the
	// confirmed one is delivered twice, as EventBridge may.
	for _, name := range []string{"notify-confirmed", "notify-cancelled", "notify-confirmed"} {
		raw, err := sample(name)
		var e events.EventBridgeEvent
		if err == nil {
			err = json.Unmarshal(raw, &e)
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		if err := handle(e); err != nil {
			fmt.Println(err)
		}
	}
	// Output:
	// confirmed 0190f3c2-7a1e-7c4b-9d2e-3f4a5b6c7d01: 2500 USD in minor units, 1 lines
	// CANCELLED 0190f3c2-7a1e-7c4b-9d2e-3f4a5b6c7d02: OUT_OF_STOCK
	// duplicate 3c9d2f4e-8a1b-4c7d-9e0f-1a2b3c4d5e61
}

// An SQS queue subscribed to the bus receives the whole event as the message body.
func ExampleParse() {
	body := `{"version":"0","id":"1","detail-type":"Order Created","source":"myapp.orders","account":"123456789012",
	  "time":"2026-11-24T10:00:00Z","region":"eu-west-1","resources":[],
	  "detail":{"metadata":{"eventId":"0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a51:PENDING","schemaVersion":"1.0",
	    "correlationId":"corr-1","occurredAt":"2026-11-24T10:00:00Z"},
	  "data":{"orderId":"0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a51","customerId":"c-1","status":"PENDING","currency":"USD",
	    "total":0,"lines":[{"sku":"SKU-MUG-001","quantity":"2"}],
	    "createdAt":"2026-11-24T10:00:00Z","updatedAt":"2026-11-24T10:00:00Z"}}}`
	_, err := orderevents.Parse([]byte(body))
	var se *orderevents.SchemaError
	if errors.As(err, &se) {
		fmt.Println("rejected at", se.Path())
	}
	// Output:
	// rejected at /data/lines/0/quantity
}
