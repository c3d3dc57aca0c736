// Package eventcontract derives and checks what consumers of the bus are given: the
// AsyncAPI document (events/asyncapi.yaml), the EventBridge schema registry's draft-4
// schemas (infra/event-schemas.yaml), and the breaking-change gate between the schemas in
// events/schemas/ and the last released ones. It is developer tooling: it reads the
// product's schemas and builds its examples through the product's own code (pkg/order,
// pkg/event); nothing deployed imports it.
package eventcontract

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/pkg/event"
	"github.com/orderflow/orderflow/pkg/order"
)

// Example is one business event as orderflow publishes it: built from an order moved
// through the domain's own transitions and announced by event.FromOrder, the code path
// every publisher uses.
type Example struct {
	Name  string      // e.g. "cancelled-out-of-stock"
	Event event.Event // what a publisher hands to the bus
	// Detail is the event's detail as published (JSON).
	Detail json.RawMessage
	// Delivered is the whole EventBridge event as a rule target receives it, with
	// EventBridge's envelope (version, id, account, time, region, resources).
	Delivered json.RawMessage
}

// The fixed inputs of the examples, so that generated files are reproducible. The ids
// are UUIDv7 like order.NewID's; the account is AWS's documentation account.
var (
	exampleStart   = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	exampleAccount = "123456789012"
	exampleRegion  = "eu-west-1"
	examplePrices  = map[string]int64{"SKU-MUG-001": 1250, "SKU-TEE-002": 1999}
)

// Examples returns one published event per announced state change and failure reason,
// in a fixed order. It returns an error only if the domain refuses a step, which would
// mean the examples no longer match the product.
func Examples() ([]Example, error) {
	steps := []struct {
		name  string
		id    string
		lines []order.Line
		run   func(o *order.Order, at func(int) time.Time) error
	}{
		{"created", "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a51", twoLines, func(*order.Order, func(int) time.Time) error { return nil }},
		{"confirmed", "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a52", twoLines, func(o *order.Order, at func(int) time.Time) error {
			return first(o.Price(examplePrices, at(1)), o.MarkReserved(at(2)), o.MarkPaid(at(3)), o.Confirm(at(3)))
		}},
		{"cancelled-out-of-stock", "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a53", twoLines, func(o *order.Order, at func(int) time.Time) error {
			return first(o.Price(examplePrices, at(1)), o.Cancel(order.ReasonOutOfStock, at(2)))
		}},
		{"cancelled-payment-declined", "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a54", twoLines, func(o *order.Order, at func(int) time.Time) error {
			return first(o.Price(examplePrices, at(1)), o.MarkReserved(at(2)), o.Cancel(order.ReasonPaymentDeclined, at(3)))
		}},
		{"cancelled-processing-failed", "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a55", twoLines, func(o *order.Order, at func(int) time.Time) error {
			return o.Cancel(order.ReasonProcessingFailed, at(1))
		}},
		{"rejected-unknown-sku", "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a56", []order.Line{{SKU: "SKU-NOPE-999", Quantity: 1}}, func(o *order.Order, at func(int) time.Time) error {
			if err := o.Price(examplePrices, at(1)); err == nil {
				return fmt.Errorf("pricing an unknown SKU succeeded")
			}
			return o.Reject(order.ReasonUnknownSKU, at(1))
		}},
		{"rejected-invalid-order", "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a57", twoLines, func(o *order.Order, at func(int) time.Time) error {
			return o.Reject(order.ReasonInvalidOrder, at(1))
		}},
	}
	out := make([]Example, 0, len(steps))
	for i, s := range steps {
		created := exampleStart.Add(time.Duration(i) * time.Minute)
		at := func(sec int) time.Time { return created.Add(time.Duration(sec) * 400 * time.Millisecond) }
		o, err := order.New(s.id, order.Request{CustomerID: "c-1", Currency: "USD", PaymentToken: "tok_visa", Lines: s.lines},
			"corr-"+s.name, created)
		if err != nil {
			return nil, fmt.Errorf("example %s: %w", s.name, err)
		}
		if err := s.run(o, at); err != nil {
			return nil, fmt.Errorf("example %s: %w", s.name, err)
		}
		ev, ok := event.FromOrder(o, o.UpdatedAt)
		if !ok {
			return nil, fmt.Errorf("example %s: status %s is not announced", s.name, o.Status)
		}
		detail, err := json.Marshal(ev.Detail)
		if err != nil {
			return nil, fmt.Errorf("example %s: %w", s.name, err)
		}
		delivered, err := Deliver(ev.DetailType, detail, event.DefaultSource, fmt.Sprintf("5d1e6f70-8192-4a3b-9c4d-5e6f7a8b9c%02d", i), o.UpdatedAt)
		if err != nil {
			return nil, fmt.Errorf("example %s: %w", s.name, err)
		}
		out = append(out, Example{Name: s.name, Event: ev, Detail: detail, Delivered: delivered})
	}
	return out, nil
}

var twoLines = []order.Line{{SKU: "SKU-MUG-001", Quantity: 2}, {SKU: "SKU-TEE-002", Quantity: 1}}

func first(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Deliver wraps a detail in the envelope EventBridge adds before it delivers an event to
// a rule's target (aws-lambda-go's events.EventBridgeEvent, field for field): version "0",
// the event id, the account and region of the bus, the time the event was put, no
// resources.
func Deliver(detailType string, detail json.RawMessage, source, id string, at time.Time) (json.RawMessage, error) {
	return json.Marshal(events.EventBridgeEvent{
		Version: "0", ID: id, DetailType: detailType, Source: source, AccountID: exampleAccount,
		Time: at.UTC().Truncate(time.Second), Region: exampleRegion, Resources: []string{}, Detail: detail,
	})
}
